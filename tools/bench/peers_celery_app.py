"""peers_celery_app.py — the Celery app of tools/bench/compare --peers
celery: one no-op task, Redis (on 127.0.0.1, port $PEERS_REDIS_PORT) as
both broker and result backend. Imported by peers_driver.py and by the
workers (celery -A peers_celery_app worker)."""

import os

from celery import Celery

_url = "redis://127.0.0.1:%s/0" % os.environ["PEERS_REDIS_PORT"]
app = Celery("peers", broker=_url, backend=_url)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # Celery's default of 4 messages per worker process, kept on purpose:
    # at 1, kombu's Redis transport (5.2) stops BRPOP while the one message
    # is unacknowledged and sends the next BRPOP only when the worker's
    # event loop next wakes, up to its 1-second poll timeout later, so a
    # solo worker ran 1-3 tasks/s and a benchmark outlived every timeout.
    worker_prefetch_multiplier=4,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="peers.noop")
def noop():
    return None
