"""Size caps that keep parsing linear and results bounded on hostile input.

A spec body is user text of up to ~1 MB. Nothing in it may make the parser slow or
produce unbounded values, so every accumulator is capped; content past a cap is
dropped silently (the document itself is stored verbatim elsewhere):

* ``MAX_LINE_CHARS``: a physical line is cut to this many characters before it is
  looked at. Longer lines carry no structure worth reading.
* ``MAX_TITLE_CHARS``: requirement titles are cut to this length.
* ``MAX_TEXT_CHARS``: normative text of one requirement.
* ``MAX_CRITERION_TEXT_CHARS``: text of one acceptance criterion.
* ``MAX_CRITERIA``: acceptance criteria kept per requirement (later ones dropped).
* ``MAX_PRIORITY_CHARS``: a priority value such as ``P1``.
* ``MAX_LABEL_CHARS``: longest ``**Label**:`` name recognised as a field label.
* ``TITLE_WORDS``: words kept when a title is derived from text.
* ``SIMILARITY_WORDS``: leading words of each text compared by ``difflib`` when
  matching requirements across revisions; ``SequenceMatcher`` is quadratic in the
  worst case.
* ``SIMILARITY_PAIRS`` and ``SIMILARITY_WORK``: budgets for one ``assign_ids``
  call. At most ``SIMILARITY_PAIRS`` (new, previous) pairs are considered, nearest
  relative positions first, and ``difflib`` ratios are computed until their summed
  cost (words x words) exceeds ``SIMILARITY_WORK``. Typical revisions never reach
  either; a bulk rewrite of a large spec then only pairs requirements that stayed
  roughly in place. This keeps ``assign_ids`` under ~0.5 s on any input.
"""

from __future__ import annotations

MAX_LINE_CHARS = 20_000
MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 20_000
MAX_CRITERION_TEXT_CHARS = 5_000
MAX_CRITERIA = 500
MAX_PRIORITY_CHARS = 32
MAX_LABEL_CHARS = 60
TITLE_WORDS = 8
SIMILARITY_WORDS = 64
SIMILARITY_PAIRS = 20_000
SIMILARITY_WORK = 2_000_000
SIMILARITY_THRESHOLD = 0.8
