"""The words of the question cues (``xander.cues``): data only, no logic.

Fitted on the Spider *train* questions (``/work/shared/data/spider/train_spider.json``, 7,000
questions): ``python benchmarks/fit_cues.py`` measures, per cue and per phrase, how often the
phrase fires and how often the gold query then has the construct the cue asks for.  A phrase
stays when its train precision is at least 80% (phrases that fire fewer than 5 times stay or go
on judgement); the ones that went are in ``DROPPED`` and the report measures them too
(``benchmarks/results/cues_train/report.md``).  Dev (``dev.json``) was looked at only as a check.

Phrases are lower case and match whole words (``"how many"`` does not match ``"showmany"``);
text inside quotes in the question (a value such as ``"Not Applicable"``) is never read.  Where
two phrases overlap the longer wins (``"no more than"`` is not ``"more than"``); comparison
phrases are read first and blanked for the other cues ("at least" is no superlative).
"""

from __future__ import annotations

#: "How many ..." asks for a count (COUNT in the output).  Dropped: "number of" without "the"
#: (62%: "with number of seats over 10" reads a column), "total number" (53%: as often a SUM).
COUNT = ("how many", "count", "the number of", "the count of", "count the number",
         "find the number", "what is the number", "what are the number", "show the number",
         "give the number", "return the number", "list the number", "tell me the number",
         "along with the number")

#: A superlative asks for one extreme (ORDER BY ... LIMIT, or MAX / MIN).  Dropped: "first"
#: (17%) and "last" (21%): first and last names; "max" and "fastest" (50%: "max speed" and
#: "fastest lap" are columns); "best" (one use).
SUPERLATIVE = ("most", "least", "highest", "lowest", "largest", "smallest", "biggest",
               "greatest", "oldest", "youngest", "maximum", "minimum", "fewest", "longest",
               "shortest", "latest", "earliest", "cheapest", "tallest", "newest", "busiest",
               "furthest", "heaviest", "min", "top")

#: A comparison with a subquery that returns many rows (``xander.scalar``) reads its extreme:
#: these words pick MAX or MIN.  Spider train gold, comparisons with ``(SELECT MAX(..)`` or
#: ``(SELECT MIN(..)``: a question with one of them agrees 20 times of 21; without them, "greater
#: than all" (``> MAX``, ``< MIN``) is the reading 22 times of 38.
SCALAR_MAX = ("largest", "maximum", "highest", "biggest", "greatest", "oldest", "latest",
              "longest", "max")
SCALAR_MIN = ("smallest", "minimum", "lowest", "least", "fewest", "youngest", "earliest",
              "shortest", "min")

#: "each" asks for one row per group (GROUP BY).  Dropped: "per" (40%: "hours per week" is a
#: column), "for every" (31%).
PER_GROUP = ("each",)

#: Negation: an anti-join (NOT IN, NOT EXISTS, LEFT JOIN ... IS NULL), EXCEPT, or a not-equal.
NEGATION = ("not", "never", "without", "no", "none", "except", "neither", "nor", "don't",
            "doesn't", "didn't", "isn't", "aren't", "wasn't", "weren't", "haven't", "hasn't",
            "hadn't", "cannot", "can't", "won't", "other than")

#: "both ... and": the rows in two sets at once (INTERSECT).
BOTH = ("both",)

#: "distinct" / "unique" / "how many different": DISTINCT (in SELECT or COUNT).  Dropped:
#: "different" alone (63%: "the different names" is most often a plain SELECT).
DISTINCT = ("distinct", "unique", "how many different", "number of different",
            "count the different")

#: Comparison direction: phrase -> the operator it asks for ("<" covers <=, ">" covers >=;
#: BETWEEN meets both).  Dropped: "under" (64%: "under the name").
DIRECTION = {
    "less than": "<", "fewer than": "<", "lower than": "<", "smaller than": "<",
    "shorter than": "<", "younger than": "<", "cheaper than": "<", "below": "<",
    "at most": "<", "no more than": "<", "not more than": "<", "under age": "<",
    "younger": "<", "before": "<",
    "more than": ">", "greater than": ">", "higher than": ">", "larger than": ">",
    "bigger than": ">", "longer than": ">", "older than": ">", "above": ">", "exceeds": ">",
    "exceed": ">", "at least": ">", "no less than": ">", "not less than": ">", "over age": ">",
    "heavier than": ">", "taller than": ">", "older": ">", "after": ">", "over": ">",
}

#: The question asks for an average (AVG).  Dropped: "mean" (76%).
AVERAGE = ("average", "avg")

#: The question asks for a sum (SUM).  Not read: "total number", "in total" (count or sum).
#: Below the bar ("total" 75%: "total points" is a column): kept for the other side, a SUM
#: without any of these words (1% of train queries), which is what its weight reads.
TOTAL = ("total", "sum", "combined")
TOTAL_NOT = ("total number", "in total", "total count")

#: The question asks for an order (ORDER BY).
ORDER = ("order", "ordered", "sorted", "sort", "alphabetical", "alphabetically", "descending",
         "ascending", "decreasing", "increasing")

#: Descending order (ORDER BY ... DESC).
DESCENDING = ("descending", "decreasing", "reverse alphabetical", "from highest", "from largest",
              "from most", "from the highest", "from the largest", "from the most",
              "from high to low", "from large to small", "from most to least")

#: "from X to Y" with two ends of a scale is an order, not a superlative ("from the oldest to
#: the youngest"); high-first ends make it descending (age words do not: "from old to young"
#: sorts birth dates up as often as ages down).
RANGE_ENDS = ("most", "least", "highest", "lowest", "largest", "smallest", "greatest", "biggest",
              "oldest", "youngest", "newest", "latest", "earliest", "longest", "shortest", "high",
              "low", "large", "small", "big", "old", "young", "early", "late", "new", "long",
              "short")
RANGE_HIGH_FIRST = ("most", "highest", "largest", "greatest", "biggest", "high", "large", "big",
                    "longest", "long")

#: A text pattern (LIKE / GLOB).  Dropped: "contain" (78%: "rooms that contain a bed").
PATTERN = ("contains", "containing", "start with", "starts with", "starting with",
           "begin with", "begins with", "beginning with", "end with", "ends with", "ending with",
           "substring", "the word", "letter", "string")

#: A percentage computed by the query (a product with 100, or a division).  Not fitted: no
#: Spider question asks for one (its "percentage" questions read a percent column), so its
#: weight is 0 until a data set that has them (BIRD) fits it.
PERCENTAGE = ("what percentage", "what percent", "the percentage of", "what proportion",
              "what fraction", "the ratio of", "in percentage", "as a percentage")

#: Rounding (ROUND): the phrase, and after it the number of decimals (a digit or a word).
#: Not fitted: no Spider question asks for it ("round" alone is a column: "the round").
ROUNDING = ("rounded to", "round to", "rounding to", "rounded off to", "round off to")
ROUND_TO_INTEGER = ("integer", "integers", "whole")
NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}

#: The question asks for names (an output column whose name says "name" or "title").
NAME = ("name", "names")
NAME_COLUMNS = ("name", "title")

#: n_outputs: what a question asks for is the list after these openings, up to a pivot word;
#: its items are separated by commas and "and".  "... and how many" adds one output.
OUTPUT_OPENINGS = (
    "what is the", "what are the", "what is", "what are", "what were the", "what was the",
    "show the", "show me the", "show", "list the", "list all the", "list all", "list", "find the",
    "find all the", "find", "give me the", "give the", "give", "return the", "return",
    "tell me the", "display the", "display", "report the", "output the", "please list the",
    "please show the", "please give the", "please find the", "which", "who", "retrieve the",
    "compute the", "count the", "what", "in which", "for which",
)
OUTPUT_PIVOTS = (
    "of", "for", "from", "in", "who", "that", "which", "whose", "with", "where", "by", "on", "at",
    "ordered", "sorted", "when", "among", "did", "do", "does", "is", "are", "was", "were", "has",
    "have", "had", "to", "than", "whom", "if", "as", "grouped", "under", "after", "before",
    "between", "during", "per", "along", "order",
)
#: a question that opens with these asks for one output, the count ("how many X per Y": two)
COUNT_OPENINGS = ("how many",)
#: list items that name no column
EMPTY_ITEMS = ("the", "their", "its", "all", "his", "her", "a", "an")
#: an item that stands for two columns in Spider's schemas (first and last name)
TWO_COLUMN_ITEMS = ("full name", "full names")
#: a single aggregate item with "each": the group's key is an output too
AGGREGATE_ITEMS = ("number", "count", "average", "total", "maximum", "minimum", "sum")
#: "X and how many ...": a second output, the count.
AND_COUNT = ("and how many", "and the number of", "and the count of", "and count",
             "and the total number", "and number of", "along with the number",
             "along with the count", "with the number of", "together with the number")

#: Phrases tried on train and dropped (the report measures them too, marked "dropped"):
#: cue -> phrases; for the directions, phrase -> operator.
DROPPED = {
    "count": ("total number", "number of"),
    "superlative": ("max", "fastest", "first", "last", "top", "best"),
    "group": ("per", "for every", "by every"),
    "distinct": ("different",),
    "average": ("mean",),
    "pattern": ("contain",),
    "percentage": ("percentage", "percent", "ratio", "proportion"),
}
DROPPED_DIRECTION = {"under": "<"}


#: English words that carry no name: the base of the stop lists of ``values`` (which words
#: never name a value) and ``focus`` (which words say nothing about a table).
STOP_WORDS = frozenset("""
a about above after all also am an and any are as at be been before being below between both
but by can could did do does doing done each either every few for from had has have having he
her here hers him his how i if in into is it its itself me more most my no nor not of off on
once only or other our out over own same she should so some such than that the their them then
there these they this those through to too under until up very was we were what when where
which while who whom whose why will with would you your yours
list show give find return tell display
""".split())
