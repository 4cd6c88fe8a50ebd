"""A dispatcher process for the fault suite: run the dispatcher every ``--every`` seconds.

Like beat + a worker running ``dispatch_due``, but without beat's own schedule file. Survives
database and broker outages (logs and tries again), as a real dispatcher must.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drip.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--every", type=float, default=0.2)
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import close_old_connections

    from drip.tasks import dispatch_due

    log = logging.getLogger("drip.dispatch_loop")
    print("dispatcher ready", flush=True)
    while True:
        try:
            dispatch_due()
        except Exception as error:  # noqa: BLE001 - a dispatcher must outlive outages
            log.warning("dispatch.error %s", type(error).__name__)
            close_old_connections()
            from django.db import connection

            connection.close()
        time.sleep(args.every)


if __name__ == "__main__":
    main()
