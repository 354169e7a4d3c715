"""``python -m serve_app.bulk INPUT OUTPUT``: the bulk job as a Ray job entry point."""

from serve_app.bulk.job import main

main()
