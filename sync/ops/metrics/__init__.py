"""Prometheus metrics of psa-sync, read from the state file.

``totals`` keeps the cumulative counters (runs by exit code, deals, calls, the Closed Won → project
latency histogram) in the state file's ``meta``, updated with each run's row, so a process that
lives for one run (cron) and the daemon count alike, and retention never makes a counter go back.
``export`` turns the state file into metric families: every run rewrites ``metrics.textfile``
atomically, and the daemon serves them on ``metrics.port``. Both read what ``status`` reads, so
their values agree with it.
"""
