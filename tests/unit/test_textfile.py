"""Every rule of the article text layout, one test each."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from feeds.errors import InvalidArticle
from feeds.ingest.textfile import (
    _LINE_SPACES,
    _PLAIN_BYTES,
    EARLIEST,
    LATEST,
    _has_forbidden,
    _needs_folding,
    parse_article,
)
from feeds.model import ParsedArticle
from feeds.text import XML_FORBIDDEN
from tests.support import SEED, article_text

LONDON = ZoneInfo("Europe/London")


def parse(text: str | bytes, zone: ZoneInfo = LONDON, name: str = "x") -> ParsedArticle:
    data = text.encode() if isinstance(text, str) else text
    return parse_article(data, f"content/{name}.txt", name, None, zone)


def rejected(text: str | bytes) -> InvalidArticle:
    with pytest.raises(InvalidArticle) as info:
        parse(text)
    return info.value


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_seed_article_is_the_reference_case() -> None:
    article = parse(SEED.read_bytes(), name="000_c3ce8669dcb39210")
    assert article.id == "000_c3ce8669dcb39210"
    assert article.title == (
        "Multiple US bases in Iraq hit with rockets in aftermath of General Soleimani killing"
    )
    assert article.published == utc(2020, 1, 4, 18, 9)
    assert article.updated == utc(2020, 1, 4, 20, 58)
    assert article.paragraphs[0].startswith("Explosions have been reported near multiple")
    assert "Vanessa Feltz" not in " ".join((article.title, *article.paragraphs))
    assert len(article.paragraphs) == 33


def test_winter_time_is_gmt() -> None:
    assert parse(article_text(dateline="4 January 2020, 18:09")).published == utc(2020, 1, 4, 18, 9)


def test_summer_time_is_bst() -> None:
    assert parse(article_text(dateline="1 July 2019, 12:00")).published == utc(2019, 7, 1, 11, 0)


def test_spring_gap_uses_the_offset_before_the_change() -> None:
    # 01:30 on 31 March 2019 never happened in London; read with GMT, fold=0.
    article = parse(article_text(dateline="31 March 2019, 01:30"))
    assert article.published == utc(2019, 3, 31, 1, 30)


def test_autumn_repeat_is_read_as_the_first_occurrence() -> None:
    # 01:30 on 27 October 2019 happened twice; the first was BST (00:30 UTC).
    article = parse(article_text(dateline="27 October 2019, 01:30"))
    assert article.published == utc(2019, 10, 27, 0, 30)


def test_time_zone_is_a_setting() -> None:
    article = parse(article_text(dateline="4 January 2020, 18:09"), ZoneInfo("America/New_York"))
    assert article.published == utc(2020, 1, 4, 23, 9)


def test_updated_time_is_read_and_defaults_to_published() -> None:
    both = parse(article_text(dateline="4 January 2020, 18:09 | Updated: 5 January 2020, 09:00"))
    assert both.updated == utc(2020, 1, 5, 9, 0)
    assert parse(article_text()).updated == parse(article_text()).published


def test_day_with_leading_zero() -> None:
    assert parse(article_text(dateline="04 January 2020, 08:09")).published == utc(2020, 1, 4, 8, 9)


def test_non_breaking_spaces_separate_dateline_parts() -> None:
    dateline = (
        "4\u00a0January\u00a02020,\u00a018:09\u00a0|\u00a0Updated:\u00a04 January 2020, 20:58"
    )
    article = parse(article_text(dateline=dateline))
    assert (article.published, article.updated) == (utc(2020, 1, 4, 18, 9), utc(2020, 1, 4, 20, 58))


def test_bom_and_crlf_are_accepted_and_change_nothing() -> None:
    plain = parse(article_text())
    windows = parse(b"\xef\xbb\xbf" + article_text().replace("\n", "\r\n").encode())
    assert replace(windows, source="") == replace(plain, source="")
    assert windows.content_hash == plain.content_hash


def test_trailing_white_space_and_blank_lines_are_not_content() -> None:
    text = "Banner\n\nA title   \n\n4 January 2020, 18:09  \n\nFirst paragraph.\t \n\n\nSecond.\n"
    article = parse(text)
    assert article.title == "A title"
    assert article.paragraphs == ("First paragraph.", "Second.")


def test_control_characters_are_dropped_and_the_rest_kept() -> None:
    article = parse(
        article_text(
            title="Bell\x07 and\x00 escape\x1b here",
            paragraphs=("Tab\there, form\x0cfeed, ok \ufffe.",),
        )
    )
    assert article.title == "Bell and escape here"
    assert article.paragraphs == ("Tab here, formfeed, ok .",)


def test_c1_controls_replacement_marks_and_noncharacters_are_dropped() -> None:
    article = parse(
        article_text(
            paragraphs=("it\x92s \x85 caf\ufffd \ufdd0x\U0010ffff \u00e9\u2019\U0001f600",)
        )
    )
    assert article.paragraphs == ("its caf x \u00e9\u2019\U0001f600",)


def test_markup_like_text_is_kept_as_characters() -> None:
    article = parse(
        article_text(title="Use <b>bold</b> & <script>x</script>", paragraphs=("a < b && c > d",))
    )
    assert article.title == "Use <b>bold</b> & <script>x</script>"
    assert article.paragraphs == ("a < b && c > d",)


def test_title_is_the_last_non_empty_line_before_the_dateline() -> None:
    article = parse("Radio show\nOther furniture\nThe real title\n\n1 May 2020, 10:00\nBody.\n")
    assert article.title == "The real title"


def test_first_dateline_shaped_line_is_the_dateline() -> None:
    article = parse(article_text(paragraphs=("2 May 2020, 10:00", "Body.")))
    assert article.published == utc(2020, 1, 4, 18, 9)
    assert article.paragraphs == ("2 May 2020, 10:00", "Body.")


@pytest.mark.parametrize(
    "data",
    [
        "A title\n4 January 2020, 18:09\nCaf\xe9 au lait\n".encode("latin-1"),
        "A title\n4 January 2020, 18:09\nBody\n".encode("utf-16"),
    ],
)
def test_non_utf8_files_are_rejected(data: bytes) -> None:
    error = rejected(data)
    assert "not UTF-8" in error.reason and error.path == "content/x.txt"


@pytest.mark.parametrize(
    "dateline",
    [
        "31 February 2020, 10:00",
        "4 January 2020, 25:61",
        "4 January 2020, 10:00 | Updated: 30 February 2020, 10:00",
        "4 Janvier 2020, 10:00",
    ],
)
def test_impossible_dates_are_rejected_with_the_line(dateline: str) -> None:
    error = rejected(article_text(dateline=dateline))
    assert error.line == 3
    assert "not a real date" in error.reason and "D Month YYYY, HH:MM" in error.reason


def test_missing_dateline_is_rejected() -> None:
    error = rejected("A title\nJanuary 4th 2020\nBody\n")
    assert "no dateline" in error.reason


def test_updated_before_published_is_rejected() -> None:
    error = rejected(
        article_text(dateline="4 January 2020, 18:09 | Updated: 4 January 2020, 18:08")
    )
    assert "before the published time" in error.reason and error.line == 3


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b" \n\r\n\t\n"])
def test_empty_files_are_rejected(data: bytes) -> None:
    assert "empty" in rejected(data).reason


def test_missing_title_and_missing_body_are_rejected() -> None:
    assert "no title" in rejected("4 January 2020, 18:09\nBody\n").reason
    assert "no body" in rejected("A title\n4 January 2020, 18:09\n\n").reason


def test_file_names_that_cannot_be_ids_are_rejected() -> None:
    with pytest.raises(InvalidArticle, match="cannot be an article id"):
        parse_article(article_text().encode(), "content/a b.txt", "a b", None, LONDON)


def test_white_space_alone_does_not_change_the_content_hash() -> None:
    one = parse(article_text(paragraphs=("Some text here.",)))
    two = parse("Other banner\n  A   title \n4 January 2020, 18:09\n\n Some  text\there. \n")
    three = parse(article_text(paragraphs=("Some text there.",)))
    assert one.content_hash == two.content_hash
    assert one.content_hash != three.content_hash


def test_the_content_hash_of_a_stored_article_never_changes() -> None:
    # Stores keep these digests and compare new ones with them: an import of unchanged files
    # must find them unchanged, whatever version of feeds stored them.
    seed = parse(SEED.read_bytes(), name=SEED.stem)
    assert seed.content_hash == "a15f0baa0428e150881b7071985292604ba7b90335e2cae91678cc06fcbf3d65"
    spaced = parse(
        "Banner\nA\u00a0title  with\tspace\n4 January 2020, 18:09\n\n"
        "One\u00a0two  three.\n\u00a0Four \u2003 five\n"
    )
    assert spaced.paragraphs == ("One\u00a0two three.", "Four five")
    assert spaced.content_hash == (
        "6cce93873a3abb4cb53668cae25936358e1b36f53df0baa0d0ebb54f7667507f"
    )
    moment = utc(2020, 1, 4, 18, 9)
    api = ParsedArticle(
        id="x",
        title="T  i",
        published=moment,
        updated=moment,
        paragraphs=("<p>a</p>",),
        section=None,
        source="{}",
        authors=("Ann Smith",),
        tags=("world",),
        body_html="<p>a  b</p>",
    )
    assert api.content_hash == "cd0a04f3a5fc553709017691188447a9fee0534bfac6890b7915c5d01ec23eef"


# Characters around the quick tests' edges: white space of every kind, what XML forbids,
# and their neighbours that are allowed.
_SPACES = [" ", "\n", "\u00a0"] + [chr(c) for c in range(0x110000) if chr(c).isspace()]
_FORBIDDEN = ["\x00", "\x08", "\x1f", "\x7f", "\x80", "\x9f", "\ufdd0", "\ufdef", "\ufffd"]
_FORBIDDEN += ["\ufffe", "\uffff", "\U0001fffe", "\U0010ffff", "\U0008ffff"]
_ALLOWED = ["a", "\u00a0", "\u00a3", "\u00e9", "\u2019", "\ufdcf", "\ufdf0", "\ufffc"]
_ALLOWED += ["\U0001fffd", "\U0001f600", "\U0010fffd", "\t", "\r", "\u0100"]


def test_the_quick_white_space_test_agrees_with_folding() -> None:
    assert not [c for c in range(0x3001, 0x110000) if chr(c).isspace()]
    pool = sorted(set(_SPACES + _ALLOWED))
    texts = ["".join(pair) for pair in itertools.product(pool, repeat=2)]
    rng = random.Random(5)
    texts += ["".join(rng.choices(pool, k=rng.randint(0, 12))) for _ in range(20000)]
    for text in texts:
        folds = _LINE_SPACES.sub(" ", text) != text
        assert _needs_folding(text.encode(), text) == folds, repr(text)


def test_the_quick_forbidden_character_test_agrees_with_the_pattern() -> None:
    pool = sorted(set(_FORBIDDEN + _ALLOWED + _SPACES[:8]))
    texts = ["".join(pair) for pair in itertools.product(pool, repeat=2)]
    rng = random.Random(7)
    texts += ["".join(rng.choices(pool, k=rng.randint(0, 12))) for _ in range(20000)]
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        rare = data.translate(None, _PLAIN_BYTES)
        found = bool(rare) and _has_forbidden(data, rare)
        assert found == bool(XML_FORBIDDEN.search(text)), repr(text)


def test_dates_before_1990_are_rejected() -> None:
    error = rejected(article_text(dateline="31 December 1989, 23:59"))
    assert "before 1990" in error.reason and error.line == 3


def test_dates_in_the_future_are_rejected_when_a_limit_is_given() -> None:
    text = article_text(dateline="4 January 2020, 18:09 | Updated: 4 January 2020, 18:30")
    limit = datetime(2020, 1, 4, 18, 20, tzinfo=UTC)
    with pytest.raises(InvalidArticle, match="in the future") as info:
        parse_article(text.encode(), "x.txt", "x", None, LONDON, limit)
    assert info.value.line == 3
    assert parse_article(text.encode(), "x.txt", "x", None, LONDON, limit + timedelta(hours=1))


@pytest.mark.parametrize(
    ("zone", "dateline"),
    [
        ("Asia/Tokyo", "1 January 0001, 05:00"),
        ("America/New_York", "31 December 9999, 23:30"),
    ],
)
def test_years_out_of_range_are_rejected_not_raised(zone: str, dateline: str) -> None:
    with pytest.raises(InvalidArticle, match="not a real date"):
        parse(article_text(dateline=dateline), ZoneInfo(zone))


CALENDAR_EDGES = (
    "31 December 9999, 23:55",
    "31 December 9999, 23:59",
    "2 January 9000, 00:00",
    "1 January 0001, 00:00",
    "1 January 0001, 23:59",
)
# The zones furthest behind and ahead of UTC, and ones with summer time on either side.
EDGE_ZONES = ("Etc/GMT+12", "America/New_York", "UTC", "Europe/London", "Pacific/Kiritimati")


@pytest.mark.parametrize("zone", EDGE_ZONES)
def test_a_dateline_at_either_end_of_the_calendar_is_rejected_with_its_line(zone: str) -> None:
    limits = (None, datetime(2026, 1, 15, 12, 0, tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    for stamp, limit in itertools.product(CALENDAR_EDGES, limits):
        for dateline in (
            stamp,
            f"4 January 2020, 18:09 | Updated: {stamp}",
            f"{stamp} | Updated: {stamp}",
            f"{stamp} | Updated: 31 December 9999, 23:59",
        ):
            data = article_text(dateline=dateline).encode()
            with pytest.raises(InvalidArticle) as info:
                parse_article(data, "x.txt", "x", None, ZoneInfo(zone), limit)
            assert info.value.line == 3, (dateline, limit, str(info.value))


def test_any_dateline_gives_an_article_or_a_rejection_naming_its_line() -> None:
    shuffle = random.Random(20200104)
    months = ("January", "february", "JUNE", "December", "Smarch")
    limits = (None, datetime(2026, 1, 15, 12, 0, tzinfo=UTC))

    def stamp() -> str:
        day, hour, minute = (shuffle.choice((0, 1, 28, 29, 30, 31, 99)) for _ in range(3))
        year = shuffle.choice((0, 1, 1989, 1990, 2020, 2026, 8999, 9000, 9999))
        return f"{day} {shuffle.choice(months)} {year:04d}, {hour % 25}:{minute % 61:02d}"

    for _ in range(3000):
        dateline = stamp() + (f" | Updated: {stamp()}" if shuffle.random() < 0.7 else "")
        data = article_text(dateline=dateline).encode()
        zone = ZoneInfo(shuffle.choice(EDGE_ZONES))
        try:
            article = parse_article(data, "x.txt", "x", None, zone, shuffle.choice(limits))
        except InvalidArticle as e:
            assert e.line == 3, (dateline, str(e))
        else:
            assert EARLIEST <= article.published <= article.updated < LATEST, dateline


def test_a_near_miss_dateline_is_named_with_its_line() -> None:
    error = rejected("Banner\nA title\n4 January 2020 18:09\nBody\n")
    assert error.line == 3 and "'4 January 2020 18:09' is not a dateline" in error.reason


def test_oversized_files_are_rejected() -> None:
    big = article_text(paragraphs=("x" * 1000,) * 300)
    assert "larger than 256 KiB" in rejected(big).reason


def test_an_embargoed_article_may_not_carry_a_later_updated_time() -> None:
    limit = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
    fine = article_text(dateline="4 January 2020, 18:09 | Updated: 4 January 2020, 18:15")
    assert parse_article(fine.encode(), "x.txt", "x", None, LONDON, limit)
    late = article_text(dateline="4 January 2020, 18:09 | Updated: 25 January 2020, 09:00")
    with pytest.raises(InvalidArticle, match="Updated: time is in the future"):
        parse_article(late.encode(), "x.txt", "x", None, LONDON, limit)
