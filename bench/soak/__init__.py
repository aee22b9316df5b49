"""`make soak` (`python -m bench.soak`): the service under mixed load on loopback for a few
minutes, checking every answer as it goes.

It imports a generated content folder into a fresh store, starts gunicorn as
deploy/feeds.service does (2 workers) and, where nginx is installed, deploy/nginx.conf in
front of it; then, all at once: pollers ask for the site's, sections' and authors' feeds in
the three formats, archives found by following prev-archive links, pages, articles and partner
feeds, with and without validators and gzip, through nginx and directly; the API puts, changes
and withdraws articles; `feeds import` reads new and changed files. The checks are listed in
record.CHECKS; the table at the end says how often each held. Exit status: 0 when every check
held, 1 when one failed, 2 when the stack could not be set up, 130 when interrupted.
"""
