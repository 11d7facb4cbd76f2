"""The checklist as a testcase of pytest's JUnit XML: ``fpt::dod[LEVEL]``, failing with the reasons.

Dashboards that read JUnit (Jenkins, GitLab, Azure) show a test per testcase; without one for the
checklist, a session whose tests passed but whose checklist failed reads green there. The testcase
is added to the file pytest wrote (``--junitxml``), and the suite's counts are updated with it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from fpt.config import redact
from fpt.judge.dod.checklist import Checklist
from fpt.report.checklist import reasons as checklist_reasons

CLASSNAME = "fpt"


def testcase_name(checklist: Checklist) -> str:
    """``dod[squad]``: shown as ``fpt::dod[squad]`` / ``fpt.judge.dod[squad]`` by JUnit readers."""
    return f"dod[{checklist.level}]"


def add_checklist_testcase(path: str | Path, checklist: Checklist, lines: Sequence[str]) -> None:
    """Append the checklist's testcase to the JUnit XML at ``path`` (``lines``: its terminal form)."""
    path = Path(path)
    tree = ET.parse(path)
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return
    case = ET.SubElement(suite, "testcase", classname=CLASSNAME, name=testcase_name(checklist), time="0")
    props = ET.SubElement(case, "properties")
    for name, value in (("fpt.dod.level", checklist.level), ("fpt.dod.verdict", checklist.verdict),
                        *((f"fpt.dod.{i.name}", i.status) for i in checklist.items)):
        ET.SubElement(props, "property", name=name, value=value)
    reasons = checklist_reasons(checklist)
    if reasons:
        failure = ET.SubElement(case, "failure", message=redact.scrub(
            f"DoD {checklist.level}: FAILED: {reasons[0]}" + (f" (+{len(reasons) - 1} more)"
                                                              if len(reasons) > 1 else "")))
        failure.text = redact.scrub("\n".join(reasons))
        suite.set("failures", str(int(suite.get("failures", "0")) + 1))
    out = ET.SubElement(case, "system-out")
    out.text = redact.scrub("\n".join(lines))
    suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    tmp = path.with_suffix(path.suffix + ".tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
