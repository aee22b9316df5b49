"""One soak run: the warm-up, then the threads (pollers, the archive walker, the API writer,
the importer, the memory sampler) for the run's duration, and what they share."""

from __future__ import annotations

import argparse
import functools
import random
import threading
import time
import traceback
from collections.abc import Callable

from ..scenarios.run import say
from .catalogue import FILENAMES, Catalogue
from .checks import Inspector
from .load import GZIP, Poller, Reader, Walker
from .memory import Group, Sampler
from .record import Record
from .stack import Stack
from .transport import Client
from .visibility import Visibility
from .writers import ApiWriter, Importer

WARM_UP_CAP = 30.0  # seconds of load before the memory baseline, at most


class Run:
    """The threads of one run and what they share."""

    def __init__(
        self, stack: Stack, record: Record, args: argparse.Namespace, crashed: list[str]
    ) -> None:
        self.stack = stack
        self.record = record
        self.args = args
        self.crashed = crashed
        self.inspector = Inspector(record)
        self.catalogue = Catalogue.of(stack)
        self.stop = threading.Event()
        self.interrupted = False

    def client(self) -> Client:
        return Client(dict(self.stack.ports), {"direct": self.stack.gunicorn.pid})

    def go(self, duration: float) -> tuple[float, float, list[Group]]:
        """Warm up, run the load for `duration` seconds; (seconds run, the moment warm-up
        ended, the memory samples)."""
        groups = [Group("gunicorn", self.stack.gunicorn.pid)]
        if self.stack.nginx is not None:
            groups.append(Group("nginx", self.stack.nginx.pid))
        sampler = Sampler(groups, self.args.rss_interval)
        memory = self.thread("memory", lambda: sampler.run(self.stop))
        begun = time.monotonic()
        writer_client = self.client()
        visibility = Visibility(
            writer_client, self.inspector, self.args.visible_within, self.args.patience
        )
        writer = ApiWriter(self.stack, self.catalogue, self.inspector, visibility, writer_client)
        writer.seed(random.Random(self.args.seed))
        self.warm_up()
        say(
            f"warmed up in {time.monotonic() - begun:.1f} s "
            f"({self.catalogue.archive_count()} archives); load for {duration:.0f} s"
        )
        started = time.monotonic()
        warm = started + min(WARM_UP_CAP, 0.2 * duration)
        threads = [memory, *self.workers(writer)]
        try:
            while not self.stop.wait(min(30.0, max(0.0, started + duration - time.monotonic()))):
                if time.monotonic() >= started + duration:
                    break
                total = sum(t.requests for t in self.record.traffic.values())
                say(f"{total:,} requests, {sum(self.record.failed.values()):,} failures")
        except KeyboardInterrupt:
            self.interrupted = True
            say("interrupted: stopping")
        self.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.monotonic() - started
        sampler.judge(self.record, warm, self.args.rss_growth)
        return elapsed, warm, groups

    def workers(self, writer: ApiWriter) -> list[threading.Thread]:
        args = self.args
        found = []
        for number in range(args.clients):
            poller = Poller(self.catalogue, self.inspector, self.client(), self.stack.base_url)
            run = functools.partial(poller.run, self.stop, args.seed + number)
            found.append(self.thread(f"poller-{number}", run))
        walker = Walker(self.catalogue, self.inspector, self.client(), self.stack.base_url)
        found.append(self.thread("walker", lambda: walker.run(self.stop, args.seed + 100)))
        found.append(
            self.thread("api", lambda: writer.run(self.stop, args.seed + 200, args.write_interval))
        )
        importer = Importer(
            self.stack,
            self.inspector,
            Visibility(self.client(), self.inspector, args.visible_within, args.patience),
        )
        found.append(
            self.thread(
                "import", lambda: importer.run(self.stop, args.seed + 300, args.import_interval)
            )
        )
        return found

    def warm_up(self) -> None:
        """Every feed in every format and coding on every target, once, and every feed's
        Atom archives walked once, directly: the workers' caches fill before memory is
        taken as the baseline, and the pollers know the archives."""
        reader = Reader(self.catalogue, self.inspector, self.client(), self.stack.base_url)
        walker = Walker(self.catalogue, self.inspector, reader.client, self.stack.base_url)
        for target in reader.targets:
            for place in self.catalogue.places():
                for filename in FILENAMES:
                    for coding in (GZIP, {}):
                        reader.get(target, place + filename, "feed", frozenset({200}), coding)
            for page in self.catalogue.pages():
                reader.get(target, page, "page", frozenset({200}), GZIP)
        for place in self.catalogue.places():
            walker.walk("direct", place + "atom.xml", None, None)
        for partner in self.catalogue.partners:
            walker.walk("direct", f"/partners/{partner.name}/atom.xml", partner.name, None)
        reader.client.close()

    def thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except Exception:
                self.crashed.append(f"thread {name}: {traceback.format_exc()}")
                self.stop.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        return thread
