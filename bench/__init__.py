"""`make bench`: how fast feeds imports and serves, each figure as a ratio to a reference
measured in the same run on the same machine.

- ingest: `feeds import` of 100,000 full-size articles into a fresh SQLite store, three
  times (the median articles/s, against 5,000/s);
- the ceiling: a Flask app answering `hi` under the very gunicorn options of `feeds serve`;
- warm feeds of a 1,000-article store, with wrk: the site feed gzipped and plain, a 304
  revalidation, a section feed and an archive (requests/s against the ceiling's);
- cold render: the first request of the site feed after `feeds import` changed one of its
  articles (against feedgen building the same 50 entries in-process);
- scale: the same store grown to 1,000,000 articles (its site feed carries the same 50
  entries): warm p50 and cold render against the 1,000-article store's, and the largest
  gunicorn worker's resident memory (against 150 MB);
- push (unless --skip-push): `feeds hub run`, a process of its own beside `feeds serve
  --no-hub` over a 1,000-article store, delivering an API PUT of one article to 1, 100 and
  1,000 subscribers of the site's Atom feed (bench/subscribers.py, on loopback): the first
  and last delivery after the PUT's answer, p50 and p99 of 20 changes (against 250 ms and,
  for the last of 1,000, 2 s), deliveries/s (against the callback server's own capacity),
  the worker's peak resident memory (against 150 MB), and the warm site feed with wrk
  while every change is delivered to all (against the same with the hub idle);
- with --nginx: the site feed through deploy/nginx.conf's caching proxy against the same
  nginx serving the same bytes from a file.

Generated corpora and stores live in bench/data/ (corpora are reused when their parameters
match); results go to bench/results.json and bench/results.md. Exit status: 0 when the run
completed (missed targets are listed, and with --check make it 1), 1 when a measurement
failed, 2 when wrk (or nginx, with --nginx) is missing.
"""
