"""The Definition-of-Done checklist, by job: pure functions of the run results to typed outcomes.

- :mod:`~fpt.judge.dod.catalogue`: every item, the built-in levels, the default limits;
- :mod:`~fpt.judge.dod.facts`: what each item found (a ``StrEnum`` reason and its figures);
- :mod:`~fpt.judge.dod.checklist`: item outcomes, the checklist, what blocks its level, the digest;
- :mod:`~fpt.judge.dod.swap`, :mod:`~fpt.judge.dod.scaling`, :mod:`~fpt.judge.dod.performance`:
  the item judges;
- :mod:`~fpt.judge.dod.evaluate`: a session's checklist at a level;
- :mod:`~fpt.judge.dod.levels`: ``[tool.fpt.dod]`` levels;
- :mod:`~fpt.judge.dod.merge`: several files' checklists as one (the gate).

No sentences here: :mod:`fpt.report.checklist` puts the checklist in words.
"""
