"""%px, %%px, %pxresult and %autopx in an in-process IPython shell."""

import pytest

IPython = pytest.importorskip("IPython", reason="python3-ipython is not installed")


@pytest.fixture
def shell(py):
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    py[:].activate()
    yield sh
    InteractiveShell.clear_instance()


def test_px_cell_and_result(shell, py, capsys):
    shell.run_line_magic("px", "a = 6 * 7")
    py[:].wait()
    assert py[:].pull("a", block=True) == [42, 42]
    shell.run_cell_magic("px", "--targets 0 --block", "print('only here', a)")
    out = capsys.readouterr().out
    assert "only here 42" in out and out.count("[stdout:") == 1
    shell.run_cell_magic("px", "--noblock", "b = a + 1")
    shell.run_line_magic("pxresult", "")
    assert py[:].pull("b", block=True) == [43, 43]
    shell.run_cell_magic("px", "--local --block", "c = 1")
    assert shell.user_ns["c"] == 1 and py[:]["c"] == [1, 1]
    import ipp
    with pytest.raises(ipp.error.InvalidUse, match="not allowed"):
        shell.run_cell_magic("px", "--block --noblock", "d = 1")
    with pytest.raises(ipp.error.InvalidUse):
        shell.run_cell_magic("px", "--nosuch", "d = 1")


def test_autopx(shell, py, capsys):
    shell.run_line_magic("autopx", "")
    shell.run_cell("e = 99")
    shell.run_cell("%autopx")
    assert "e" not in shell.user_ns
    assert py[:]["e"] == [99, 99]
    out = capsys.readouterr().out
    assert "%autopx enabled" in out and "%autopx disabled" in out
