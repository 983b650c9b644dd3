"""ipp.magics — %px, %%px, %autopx and %pxresult for IPython.

``view.activate()`` (or ``%load_ext ipp``, which uses ``rc[:]`` of a
default Client) registers them; a suffix gives a second set bound to
another view (``%px_odd``). Needs IPython (Debian python3-ipython).

    %px a = 5                       run a line on every engine of the view
    %%px --targets 0 --noblock      a cell, on engine 0, without waiting
    %%px --local                    the cell here too
    %autopx                         every following cell runs on the engines
    %pxresult                       the output of the last non-blocking %px
"""

import argparse
import shlex

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class

from . import error


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # a bad %%px line is an error, not an exit
        raise error.InvalidUse(f"%%px: {message}")


def _parser():
    p = _Parser(prog="%%px", add_help=False)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--block", dest="block", action="store_true", default=None)
    g.add_argument("--noblock", dest="block", action="store_false")
    p.add_argument("--targets", "-t", default=None)
    p.add_argument("--local", action="store_true")
    return p


def _targets(text):
    if text is None:
        return None
    if text == "all":
        return "all"
    if ":" in text:
        parts = [int(x) if x else None for x in text.split(":")]
        return slice(*parts)
    return [int(x) for x in text.split(",")] if "," in text else int(text)


@magics_class
class ParallelMagics(Magics):
    """%px and friends for one view."""

    def __init__(self, shell, view, suffix=""):
        super().__init__(shell)
        self.view = view
        self.suffix = suffix
        self.last = None
        self._autopx = False
        self._saved_run = None
        names = {"px": self.px, "autopx": self.autopx, "pxresult": self.pxresult}
        self.magics = {"line": {}, "cell": {}}
        for name, fn in names.items():
            self.magics["line"][name + suffix] = fn
        self.magics["cell"]["px" + suffix] = self.px

    def _view_for(self, targets):
        if targets is None:
            return self.view
        client = self.view.client
        if isinstance(targets, slice):
            return client[targets]
        return client.direct_view(targets)

    def _run(self, code, block=None, targets=None, local=False):
        if local:
            self.shell.run_cell(code)
        view = self._view_for(targets)
        block = view.block if block is None else block
        ar = view.execute(code, block=False)
        self.last = ar
        if block:
            self._show(ar)
        return None

    def _show(self, ar):
        try:
            ar.get()
        except error.RemoteError as e:
            self._print_outputs(ar)
            raise e from None
        self._print_outputs(ar)

    def _print_outputs(self, ar):
        md = ar.metadata
        for m in (md if isinstance(md, list) else [md]):
            out, err = m.get("stdout") or "", m.get("stderr") or ""
            if out:
                print(f"[stdout:{m['engine_id']}] {out}", end="" if out.endswith("\n") else "\n")
            if err:
                print(f"[stderr:{m['engine_id']}] {err}", end="" if err.endswith("\n") else "\n")

    @line_cell_magic
    def px(self, line="", cell=None):
        """%px CODE / %%px [--targets T] [--block|--noblock] [--local]"""
        if cell is None:
            return self._run(line)
        args = _parser().parse_args(shlex.split(line))
        return self._run(cell, block=args.block, targets=_targets(args.targets), local=args.local)

    @line_magic
    def pxresult(self, line=""):
        """Show the result of the last %px."""
        if self.last is None:
            raise error.InvalidUse("no %px has run yet")
        self._show(self.last)

    @line_magic
    def autopx(self, line=""):
        """Toggle running every cell on the engines."""
        if self._autopx:
            self.shell.run_cell = self._saved_run
            self._autopx = False
            print("%autopx disabled")
            return
        self._saved_run = self.shell.run_cell
        saved = self._saved_run
        me = self

        def run_cell(raw_cell, *args, **kwargs):
            if raw_cell.strip().startswith(("%autopx", "%" + "autopx" + me.suffix)):
                return saved(raw_cell, *args, **kwargs)
            try:
                me._run(raw_cell, block=True)
            except error.RemoteError as e:
                print("\n".join(e.render_traceback()))
            return saved("pass", *args, **kwargs)

        self.shell.run_cell = run_cell
        self._autopx = True
        print("%autopx enabled")


def activate(view, suffix=""):
    """Register the magics for view in the running IPython."""
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None:
        raise error.InvalidUse("activate() needs a running IPython")
    m = ParallelMagics(ip, view, suffix)
    ip.register_magics(m)
    return m


def load_ipython_extension(ip):
    """%load_ext ipp: the magics on every engine of a default Client."""
    from .client import Client

    view = Client()[:]
    m = ParallelMagics(ip, view, "")
    ip.register_magics(m)
