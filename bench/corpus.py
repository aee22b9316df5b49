"""Synthetic newsroom articles in the text layout of CONTENT-FORMAT.md, for the benchmark.

Each article is a function of (seed, index, kind) alone, so the 1,000 articles of a small
corpus are the first 1,000 of any larger corpus made with the same seed, and any one file can
be made again without the others. Full articles are shaped like the real seed file: a preamble
line, a title, a dateline (about a third with an Updated: time), about 25 paragraphs and 4.6 KB
of text. Short articles (two or three short paragraphs, to spare disk in the million-article
store) are all dated before LAST_SHORT_DAY, earlier than the newest full articles: a store of
1,000 full articles plus many short ones serves the same 50 entries in its site feed as the
1,000 full articles alone.

Layout: `ROOT/SECTION/ID.txt`, or with `nested`, `ROOT/SECTION/BUCKET/ID.txt`; either way the
first folder below the imported folder is the article's section.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

# Bump when the generated text changes, so corpora made by an older version are made again.
GENERATOR_VERSION = 1
MARKER = ".corpus.json"
JOURNAL = ".edited"  # files changed in place (by the cold-render measurement), to restore

SECTIONS = ("world", "uk", "politics", "business", "sport", "science", "culture", "technology")
SECTION_WEIGHTS = (20, 18, 14, 14, 14, 8, 7, 5)
BUCKETS = 125  # sub-folders per section in a nested corpus

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Datelines fall between these days, at 06:00-23:59 wall-clock time: never in the hour that a
# daylight-saving change makes ambiguous or skips (01:00-01:59 in Europe/London).
FIRST_DAY = date(2012, 1, 1)
LAST_DAY = date(2025, 6, 30)
LAST_SHORT_DAY = date(2024, 6, 30)
FIRST_HOUR = 6

PREAMBLES = (
    "Vanessa Feltz 3pm - 6pm",
    "Nick Ferrari 7am - 10am",
    "Shelagh Fogarty 1pm - 4pm",
    "Iain Dale 7pm - 10pm",
    "Andrew Castle 6pm - 9pm",
    "Matt Frei 10am - 1pm",
    "Tom Swarbrick 4pm - 7pm",
    "James O'Brien 10am - 1pm",
    "Clive Bull 1am - 4am",
    "Ben Kentish 10pm - 1am",
)
NAMES = (
    "Ben Wallace",
    "Majid Takht Ravanchi",
    "Sarah Jones",
    "David Okafor",
    "Priya Patel",
    "Marie Dubois",
    "Tomasz Nowak",
    "Aisling O'Connor",
    "Chen Wei",
    "Fatima Al-Sayed",
    "Hans Müller",
    "Zoë Clarke",
    "Rhys Evans",
    "Siobhán Kelly",
    "José García",
)
TITLES = ("Mr", "Ms", "Dr", "Professor", "Sir", "Lady")
PLACES = (
    "London",
    "Baghdad",
    "Manchester",
    "Edinburgh",
    "Cardiff",
    "Belfast",
    "Brussels",
    "Washington",
    "Beijing",
    "Paris",
    "Berlin",
    "Nairobi",
    "the Strait of Hormuz",
    "the Green Zone",
    "Westminster",
    "the City",
    "Wembley",
    "Glastonbury",
)
BODIES = (
    "the Government",
    "the Home Office",
    "the Treasury",
    "the Bank of England",
    "the NHS",
    "Downing Street",
    "the Ministry of Defence",
    "the European Commission",
    "the United Nations",
    "the Met Police",
    "the Football Association",
    "the Royal Society",
    "M&S",
    "the Office for National Statistics",
)
WORDS = tuple(
    """
    the a of to and in that for on with as by at from said has have had was were is are will
    would could should may might been being after before over under about against between
    during since while when where which who whose what this those these their its his her our
    government minister ministers officials police forces troops base bases embassy city area
    country people residents families workers members council report reports statement
    spokesman spokeswoman figures data rate rates prices costs budget plan plans deal talks
    vote votes election party leader leaders campaign policy policies law court judge trial
    case evidence inquiry investigation hospital patients doctors nurses schools pupils
    teachers university researchers scientists study studies results team players match
    season club fans goal goals manager coach league cup final company firms market markets
    shares investors profits sales growth economy inflation energy oil gas climate weather
    storm flooding rain heat warning warnings emergency services crews fire rescue attack
    attacks rockets explosions security protesters protest streets crowds funeral procession
    minutes hours days weeks months years morning evening night weekend announced confirmed
    warned urged called described reported claimed denied insisted added told expected
    planned agreed rejected approved launched released published opened closed moved
    increased fell rose dropped remained continued began ended hit struck targeted killed
    injured arrested charged fined jailed freed returned resume resumed escort escorting
    protect defend engage respond response action threat imminent further several many
    most some few more less new old major minor local national international British
    American European Iranian Iraqi Chinese Scottish Welsh regional senior former current
    public private military civilian financial political economic social medical legal
    heavily fortified significant serious immediate recent latest previous next last first
    second third final early late long short high low large small strong weak safe
    """.split()
)
NUMBERS = ("two", "three", "five", "dozens of", "hundreds of", "tens of thousands of", "1,200")
PERCENT = ("2.5 per cent", "12 per cent", "half", "a third", "40%", "£3.2bn", "$1.4m", "€250,000")


@dataclass(frozen=True)
class Spec:
    """What a corpus is made of: `count` articles, the first `full` of them full-size, the
    rest short. Stored beside the corpus, so that a matching corpus is used again."""

    count: int
    full: int
    nested: bool = False
    seed: int = 1
    version: int = GENERATOR_VERSION


@dataclass(frozen=True)
class Generated:
    """One article: its id, section, file text and dateline instants (wall-clock, naive)."""

    id: str
    section: str
    text: str
    published: datetime
    updated: datetime | None

    def relative_path(self, nested: bool) -> Path:
        if nested:
            bucket = f"{int(self.id[1:]) % BUCKETS:03d}"
            return Path(self.section, bucket, f"{self.id}.txt")
        return Path(self.section, f"{self.id}.txt")


def article_id(index: int) -> str:
    return f"a{index:07d}"


def stamp(moment: datetime) -> str:
    """A dateline time: '4 January 2020, 18:09'."""
    return f"{moment.day} {MONTH_NAMES[moment.month - 1]} {moment.year}, {moment:%H:%M}"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _words(rng: random.Random, count: int) -> str:
    words = rng.choices(WORDS, k=count)
    roll = rng.random()
    if roll < 0.25:
        words.insert(rng.randrange(len(words) + 1), rng.choice(PLACES))
    elif roll < 0.4:
        words.insert(rng.randrange(len(words) + 1), rng.choice(BODIES))
    elif roll < 0.5:
        words.insert(rng.randrange(len(words) + 1), rng.choice(NUMBERS))
    elif roll < 0.6:
        words.insert(rng.randrange(len(words) + 1), rng.choice(PERCENT))
    return " ".join(words)


def _sentence(rng: random.Random, count: int) -> str:
    """One sentence of about `count` words: plain, or a quotation with its speaker."""
    roll = rng.random()
    if roll < 0.18:
        name = rng.choice(NAMES)
        speaker = f"{rng.choice(TITLES)} {name.split()[-1]}" if rng.random() < 0.5 else name
        return f'{speaker} said: "{_capitalise(_words(rng, max(3, count - 2)))}."'
    if roll < 0.24:
        return f'"{_capitalise(_words(rng, max(3, count - 2)))}," {rng.choice(NAMES)} added.'
    if roll < 0.3:
        owner = rng.choice(NAMES).split()[-1]
        return f"{owner}’s {_words(rng, max(3, count - 1))}."
    return _capitalise(_words(rng, count)) + "."


def _paragraph(rng: random.Random, target: int) -> str:
    """Sentences until the paragraph is about `target` characters long."""
    sentences: list[str] = []
    length = 0
    while length < target - 15:
        room = target - length
        count = rng.randint(8, 26) if room > 200 else max(3, room // 7)
        sentence = _sentence(rng, count)
        sentences.append(sentence)
        length += len(sentence) + 1
    return " ".join(sentences)


def _datelines(rng: random.Random, last: date) -> tuple[datetime, datetime | None]:
    day = FIRST_DAY + timedelta(days=rng.randrange((last - FIRST_DAY).days + 1))
    published = datetime(
        day.year, day.month, day.day, rng.randint(FIRST_HOUR, 23), rng.randrange(60)
    )
    if rng.random() >= 1 / 3:
        return published, None
    # A few minutes to a few hours later, the same day (so never in a daylight-saving change).
    left = (23 - published.hour) * 60 + 59 - published.minute
    if left < 3:
        return published, None
    return published, published + timedelta(minutes=rng.randint(3, min(left, 360)))


def generate_article(index: int, *, short: bool = False, seed: int = 1) -> Generated:
    """Article number `index` of the corpora made with `seed`."""
    rng = random.Random(f"feeds-bench:{seed}:{'short' if short else 'full'}:{index}")
    section = rng.choices(SECTIONS, weights=SECTION_WEIGHTS)[0]
    published, updated = _datelines(rng, LAST_SHORT_DAY if short else LAST_DAY)
    title = _capitalise(_words(rng, rng.randint(7, 14)))
    if short:
        targets = [rng.randint(80, 200) for _ in range(rng.randint(2, 3))]
    else:
        paragraphs = rng.randint(22, 28)
        total = rng.randint(4050, 4550)
        weights = [rng.uniform(0.35, 1.65) for _ in range(paragraphs)]
        scale = total / sum(weights)
        targets = [max(40, round(w * scale)) for w in weights]
    body = [_paragraph(rng, target) for target in targets]
    dateline = stamp(published) + (f" | Updated: {stamp(updated)}" if updated else "")
    lines = [rng.choice(PREAMBLES), title, dateline, *body]
    return Generated(article_id(index), section, "\n".join(lines) + "\n", published, updated)


def spec_article(spec: Spec, index: int) -> Generated:
    """Article number `index` of the corpus `spec`."""
    return generate_article(index, short=index >= spec.full, seed=spec.seed)


def articles(spec: Spec, start: int = 0) -> Iterator[Generated]:
    for index in range(start, spec.count):
        yield spec_article(spec, index)


def _read_marker(root: Path) -> dict[str, object] | None:
    try:
        data = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_ready(root: Path, spec: Spec) -> bool:
    """Whether `root` holds the whole corpus `spec` describes (its marker says so); files
    left edited by an interrupted run are restored first."""
    if _read_marker(root) != asdict(spec):
        return False
    restore_edits(root, spec)
    return True


def note_edit(root: Path, relative: Path) -> None:
    """Record, before a file of the corpus is changed in place, that it must be restored."""
    with (root / JOURNAL).open("a", encoding="utf-8") as journal:
        journal.write(f"{relative}\n")


def restore_edits(root: Path, spec: Spec) -> int:
    """Write every file named in the journal as generated; how many were restored."""
    journal = root / JOURNAL
    try:
        names = set(journal.read_text(encoding="utf-8").split())
    except FileNotFoundError:
        return 0
    for name in names:
        index = int(Path(name).stem[1:])
        (root / name).write_text(spec_article(spec, index).text, encoding="utf-8")
    journal.unlink()
    return len(names)


def write_corpus(root: Path, spec: Spec, *, workers: int = 1) -> bool:
    """Write the corpus into `root` unless it is already there; True when it was written.

    The marker is written last, so an interrupted run leaves no marker and starts over.
    """
    if is_ready(root, spec):
        return False
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    workers = max(1, min(workers, spec.count // 5000 + 1))
    if workers == 1:
        _write_range(root, spec, 0, spec.count)
    else:
        _write_parallel(root, spec, workers)
    (root / MARKER).write_text(json.dumps(asdict(spec), indent=2) + "\n")
    return True


def _write_range(root: Path, spec: Spec, start: int, stop: int) -> None:
    made: set[Path] = set()
    for index in range(start, stop):
        article = spec_article(spec, index)
        path = root / article.relative_path(spec.nested)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text(article.text, encoding="utf-8")


def _write_parallel(root: Path, spec: Spec, workers: int) -> None:
    """Fork `workers` processes, each writing one run of consecutive articles."""
    step = -(-spec.count // workers)
    children: list[int] = []
    for number in range(workers):
        start, stop = number * step, min(spec.count, (number + 1) * step)
        pid = os.fork()
        if pid == 0:  # the child writes its share and leaves without running any cleanup
            status = 0
            try:
                _write_range(root, spec, start, stop)
            except BaseException:
                status = 1
            os._exit(status)
        children.append(pid)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    if failed:
        raise RuntimeError(f"{failed} of {workers} corpus writers failed in {root}")
