"""Question cues on real Spider dev questions, and cue_score ranking real candidate queries."""

from __future__ import annotations

import inspect
import json
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import fit_cues
from xander import cue_words
from xander.cues import Cues, CueWeights, cue_score, query_shape, question_cues
from xander.sqlparse import parse_one_select

# question (Spider dev, verbatim) -> the cues that fire (every other one stays off)
DEV_CUES = [
    ("How many singers do we have?", {"wants_count": "how many", "n_outputs": 1}),
    ("How many singers are from each country?",
     {"wants_count": "how many", "per_group": "each", "n_outputs": 2}),
    ("Show all countries and the number of singers in each country.",
     {"wants_count": "the number of", "per_group": "each", "n_outputs": 2}),
    ("What are the names of the stadiums without any concerts?",
     {"negation": "without", "name": "names", "n_outputs": 1}),
    ("Find the first name of students who have both cat and dog pets .",
     {"both": "both", "name": "name", "n_outputs": 1}),
    ("How many different types of pet are there?",
     {"wants_count": "how many", "distinct": "how many different", "n_outputs": 1}),
    ("How many visitors below age 30 are there?",
     {"wants_count": "how many", "directions": (("<", "below"),), "n_outputs": 1,
      "numbers": ("30",)}),
    ("In which years cars were produced weighing no less than 3000 and no more than 4000 ?",
     {"directions": ((">", "no less than"), ("<", "no more than")), "n_outputs": 1,
      "numbers": ("3000", "4000")}),
    ("Show the name and theme for all concerts and the number of singers in each concert.",
     {"wants_count": "the number of", "per_group": "each", "name": "name", "n_outputs": 3}),
    ("What are the names, countries, and ages for every singer in descending order of age?",
     {"order": "descending", "descending": "descending", "name": "names", "n_outputs": 3}),
    ("What are the notes of the death events which has substring 'East'?",
     {"pattern": "substring", "n_outputs": 1, "values": ("east",)}),
    ("Show the name and the release year of the song by the youngest singer.",
     {"superlative": "youngest", "name": "name", "n_outputs": 2}),
    # a range of a scale is an order, not a superlative
    ("Show name, country, age for all singers ordered by age from the oldest to the youngest.",
     {"order": "ordered", "name": "name", "n_outputs": 3}),
    ("What is the average, minimum, and maximum age of all singers from France?",
     {"average": "average", "superlative": "minimum", "n_outputs": 3}),
    ("Which airlines have less than 200 flights?",
     {"directions": (("<", "less than"),), "n_outputs": 1, "numbers": ("200",)}),
    ("Show countries where a singer above age 40 and a singer below 30 are from.",
     {"directions": ((">", "above"), ("<", "below")), "n_outputs": 1,
      "numbers": ("40", "30")}),
    (("How many countries does each continent have? List the continent id, continent name and "
      "the number of countries."),
     {"wants_count": "how many", "per_group": "each", "name": "name", "n_outputs": 3}),
]


@pytest.mark.parametrize(("question", "expected"), DEV_CUES)
def test_cues_of_dev_questions(question: str, expected: dict) -> None:
    cues = question_cues(question)
    fired = {f: getattr(cues, f) for f in Cues.__slots__ if getattr(cues, f) not in (None, ())}
    assert fired == expected


def test_direction_property() -> None:
    assert question_cues("How many visitors below age 30 are there?").direction == "<"
    assert question_cues("Which singers are older than 40?").direction == ">"
    both = question_cues("Show countries where a singer above age 40 and a singer below 30 are "
                         "from.")
    assert both.direction is None  # two ways: no single direction


def test_quoted_values_are_not_wording() -> None:
    quoted = question_cues('Find the songs named "The Best of Not Everything".')
    assert quoted.values == ("the best of not everything",)  # a value, kept as one
    assert replace(quoted, values=()) == question_cues("Find the songs named X.")
    assert question_cues("List stores in 'Most Central' with no orders.").superlative is None


def test_overlapping_phrases_take_the_longer() -> None:
    cues = question_cues("Which courses have at least 2 and at most 5 sections?")
    assert cues.directions == ((">", "at least"), ("<", "at most"))
    assert cues.superlative is None  # "least" / "most" belong to the comparisons


def test_rounding_and_percentage_are_read() -> None:
    assert question_cues("What is the average price rounded to 2 decimal places?").rounding == 2
    assert question_cues("Give the mean age, round to two decimals.").rounding == 2
    assert question_cues("What percentage of students are female?").percentage == \
        "what percentage"


# -- cue_score: the right one of two real candidates ------------------------------------------
# question (Spider dev), the gold query, a plausible wrong one, the cue the wrong one misses
PAIRS = [
    ("How many visitors below age 30 are there?",
     "SELECT count(*) FROM visitor WHERE age < 30",
     "SELECT count(*) FROM visitor WHERE age > 30", "missed:<"),
    ("How many different types of pet are there?",
     "SELECT count(DISTINCT pettype) FROM pets",
     "SELECT count(pettype) FROM pets", "missed:distinct"),
    ("What are the names of the stadiums without any concerts?",
     "SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)",
     "SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id",
     "missed:negation"),
    ("How many singers are from each country?",
     "SELECT country, count(*) FROM singer GROUP BY country",
     "SELECT count(*) FROM singer", "missed:group"),
    ("Show the name and the release year of the song by the youngest singer.",
     "SELECT song_name, song_release_year FROM singer ORDER BY age LIMIT 1",
     "SELECT song_name, song_release_year FROM singer", "missed:superlative"),
    ("What are the names, countries, and ages for every singer in descending order of age?",
     "SELECT name, country, age FROM singer ORDER BY age DESC",
     "SELECT name, country, age FROM singer ORDER BY age", "missed:descending"),
    ("Show the name and theme for all concerts and the number of singers in each concert.",
     ("SELECT T2.concert_name, T2.theme, count(*) FROM singer_in_concert AS T1 JOIN concert "
      "AS T2 ON T1.concert_id = T2.concert_id GROUP BY T2.concert_id"),
     ("SELECT T2.concert_name, count(*) FROM singer_in_concert AS T1 JOIN concert AS T2 "
      "ON T1.concert_id = T2.concert_id GROUP BY T2.concert_id"), "missed:outputs=3"),
    ("Find the first name of students who have both cat and dog pets .",
     ("SELECT T1.fname FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid = T2.stuid JOIN pets "
      "AS T3 ON T3.petid = T2.petid WHERE T3.pettype = 'cat' INTERSECT SELECT T1.fname FROM "
      "student AS T1 JOIN has_pet AS T2 ON T1.stuid = T2.stuid JOIN pets AS T3 ON T3.petid = "
      "T2.petid WHERE T3.pettype = 'dog'"),
     ("SELECT T1.fname FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid = T2.stuid JOIN pets "
      "AS T3 ON T3.petid = T2.petid WHERE T3.pettype = 'cat' OR T3.pettype = 'dog'"),
     "missed:both"),
    ("List all song names by singers above the average age.",
     "SELECT song_name FROM singer WHERE age > (SELECT avg(age) FROM singer)",
     "SELECT song_name FROM singer WHERE age > 30", "missed:average"),
    ("What are the notes of the death events which has substring 'East'?",
     "SELECT note FROM death WHERE note LIKE '%East%'",
     "SELECT note FROM death WHERE note = 'East'", "missed:pattern"),
]


@pytest.mark.parametrize(("question", "right", "wrong", "note"), PAIRS)
def test_cue_score_prefers_the_right_query(question: str, right: str, wrong: str,
                                           note: str) -> None:
    cues = question_cues(question)
    good, good_notes = cue_score(cues, parse_one_select(right))
    bad, bad_notes = cue_score(cues, parse_one_select(wrong))
    assert good > bad
    assert good == 0.0  # the gold query meets every cue
    assert note in bad_notes and note not in good_notes
    assert not [n for n in good_notes if not n.startswith("met:")]


def test_opposite_direction_costs_more_than_no_comparison() -> None:
    cues = question_cues("How many visitors below age 30 are there?")
    opposite, notes = cue_score(cues, parse_one_select("SELECT count(*) FROM visitor WHERE age > 30"))
    none, _ = cue_score(cues, parse_one_select("SELECT count(*) FROM visitor"))
    assert "unasked:>" in notes
    assert opposite < none < 0


def test_unasked_constructs_cost_where_train_says_so() -> None:
    cues = question_cues("List the names of singers.")
    plain, _ = cue_score(cues, parse_one_select("SELECT name FROM singer"))
    odd, notes = cue_score(cues, parse_one_select("SELECT name FROM singer ORDER BY age LIMIT 1"))
    assert plain == 0.0 and odd < 0 and "unasked:superlative" in notes


def test_weights_scale_and_shape_input() -> None:
    cues = question_cues("How many different types of pet are there?")
    tree = parse_one_select("SELECT count(pettype) FROM pets")
    full, _ = cue_score(cues, tree)
    assert cue_score(cues, tree, CueWeights(scale=0.5))[0] == pytest.approx(full / 2)
    assert cue_score(cues, tree, CueWeights(scale=0.0))[0] == 0.0
    assert cue_score(cues, query_shape(tree)) == cue_score(cues, tree)  # a Shape works too


def test_between_meets_both_directions() -> None:
    cues = question_cues("In which years cars were produced weighing no less than 3000 and no "
                         "more than 4000 ?")
    score, notes = cue_score(cues, parse_one_select(
        "SELECT DISTINCT year FROM cars_data WHERE weight BETWEEN 3000 AND 4000"))
    assert score == 0.0 and "met:<" in notes and "met:>" in notes


def test_query_shape_constructs() -> None:
    shape = query_shape(parse_one_select(
        "SELECT name FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert)"
        " EXCEPT SELECT name FROM singer WHERE age != 3"))
    assert {"anti", "not-equal", "name-output"} <= shape.constructs
    left = query_shape(parse_one_select(
        "SELECT a.name FROM a LEFT JOIN b ON a.id = b.aid WHERE b.aid IS NULL"))
    assert "anti" in left.constructs
    assert query_shape(parse_one_select("SELECT * FROM t")).n_outputs is None
    assert query_shape(parse_one_select("SELECT ROUND(AVG(x), 2) FROM t")).round_digits == {2}


# -- the data module and the fit -------------------------------------------------------------
def test_word_lists_are_data_only() -> None:
    functions = [n for n, v in vars(cue_words).items() if inspect.isfunction(v)]
    assert functions == []
    for name, value in vars(cue_words).items():
        if name.isupper() and isinstance(value, tuple):
            assert all(p == p.lower().strip() for p in value), name


def test_fit_measures_precision_and_recall() -> None:
    examples = [
        {"question": "How many singers are there?", "query": "SELECT count(*) FROM singer"},
        {"question": "How many singers are older than 30?",
         "query": "SELECT name FROM singer WHERE age > 30"},  # count fires, gold has none
        {"question": "Give me a tally of singers.", "query": "SELECT count(*) FROM singer"},
        {"question": "List the singers.", "query": "SELECT name FROM singer"},
    ]
    split = fit_cues.measure("tiny", examples)
    count = split.cues["count"]
    assert (count.fired, count.hit, count.has) == (2, 1, 2)
    assert count.precision == 0.5 and count.recall == 0.5
    assert split.cues[">"].precision == 1.0
    text = fit_cues.report(split, split, "test")
    assert "| count | count | 2 | 50% | 50% |" in text


DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "spider" / "dev.json"


def test_committed_report_matches_the_cue_weights() -> None:
    """The report's 'used' column is CueWeights' defaults: rerun fit_cues.py after changing
    either (this reads the committed report, it does not refit)."""
    report = Path(fit_cues.ROOT / "benchmarks" / "results" / "cues_train" / "report.md")
    if not report.is_file():
        pytest.skip("no committed report")
    rows = {line.split("|")[1].strip(): line for line in report.read_text().splitlines()
            if line.startswith("| ") and line.count("|") == 12}
    w = CueWeights()
    for cue in ("count", "superlative", "negation", "average"):
        used = rows[cue].split("|")[-2].replace("*", "").split("/")
        assert float(used[0]) == getattr(w, cue).miss
        assert float(used[1]) == getattr(w, cue).unasked


def test_dev_questions_parse_into_cues() -> None:
    if not DEV.is_file():
        pytest.skip("Spider dev not available")
    questions = [ex["question"] for ex in json.loads(DEV.read_text())]
    cues = [question_cues(q) for q in questions]
    assert sum(c.wants_count is not None for c in cues) > 150  # the report: 218
    assert sum(c.n_outputs is not None for c in cues) > 0.9 * len(cues)
