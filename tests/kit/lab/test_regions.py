"""kit.lab.regions and project cells: the learner's code is never lost (issue 20, items 2 and 3).

A project cell is merged into its file by region name: a region the learner filled is kept (never
replaced by a stub nor by the kit's solution), new regions are added, the kit's text outside regions is
replaced only when the file holds a version the kit ships, and otherwise the cell refuses and says why."""

import pytest

from kit.authoring import starter
from kit.lab import project_cells, regions

STAGE_1 = """# project/devices/x.py
class C:
    async def connect(self):
        ### BEGIN SOLUTION C.connect
        await self.join()
        ### END SOLUTION
        await self.accept()
"""
STAGE_2 = """# project/devices/x.py
import auth


class C:
    async def connect(self):
        auth.check(self)
        ### BEGIN SOLUTION C.connect
        await self.join()
        ### END SOLUTION
        await self.accept()

    async def command(self, event):
        ### BEGIN SOLUTION C.command
        await self.forward(event)
        ### END SOLUTION
"""


def stubbed(text):
    return starter.stub(text, "project/devices/x.py")[0]


def learner_fills(text, name, code):
    """The stub of region `name` replaced by the learner's code (their own comment first)."""
    lines = text.split("\n")
    region = next(region for region in regions.parse(text) if region.name == name)
    lines[region.begin + 1 : region.end] = [f"{region.indent}# mine: {name}", f"{region.indent}{code}"]
    return "\n".join(lines)


def shipped(*texts):
    skeletons = [regions.skeleton(text) for text in texts]
    bodies = {}
    for text in texts:
        for name, body in regions.bodies(text).items():
            if not regions.is_stub(body):
                bodies.setdefault(name, set()).add(regions.body_hash(body))
    return skeletons, bodies


def test_the_starter_keeps_each_regions_name_in_two_plain_comments():
    text = stubbed(STAGE_1)
    assert "### BEGIN SOLUTION" not in text and "await self.join()" not in text
    assert "        # >>> your code: C.connect (the kit keeps what you write between these two lines)" in text
    assert "        # <<< end of your code: C.connect" in text
    (region,) = regions.parse(text)
    assert region.name == "C.connect" and region.kind == "yours"
    assert regions.is_stub(region.body(text.split("\n")))
    assert regions.skeleton(text) == regions.skeleton(STAGE_1)  # the kit's text is the same in both copies


def test_a_later_stage_keeps_the_learners_region_and_adds_the_new_one():
    earlier, later = stubbed(STAGE_1), stubbed(STAGE_2)
    disk = learner_fills(earlier, "C.connect", "await self.join()  # my way")
    result = regions.merge(later, disk, *shipped(earlier, later))
    assert result.kept == ["C.connect"] and result.added == ["C.command"]
    assert "# mine: C.connect" in result.text and "auth.check(self)" in result.text
    assert 'NotImplementedError("TODO' in result.text  # C.command, still to write
    # ... and the kit's own solution never replaces it either
    result = regions.merge(STAGE_2, disk, *shipped(earlier, later, STAGE_1, STAGE_2))
    assert "# mine: C.connect" in result.text and result.kept == ["C.connect"]


def test_code_written_in_the_cell_itself_is_written():
    earlier = stubbed(STAGE_1)
    disk = learner_fills(earlier, "C.connect", "await self.join()  # first try")
    cell = learner_fills(earlier, "C.connect", "await self.join()  # second try")
    result = regions.merge(cell, disk, *shipped(earlier))
    assert "# second try" in result.text and "# first try" not in result.text


def test_a_change_outside_the_regions_is_refused_with_what_differs():
    earlier, later = stubbed(STAGE_1), stubbed(STAGE_2)
    disk = learner_fills(earlier, "C.connect", "pass").replace("await self.accept()", "await self.accept()  # edited")
    result = regions.merge(later, disk, *shipped(earlier, later), relative="project/devices/x.py")
    assert result.text is None
    assert "changed outside the 'your code' regions" in result.refused and "# edited" in result.refused
    assert "replace_my_changes('project/devices/x.py')" in result.refused


def test_an_earlier_stage_over_a_file_the_learner_took_further_is_refused():
    earlier, later = stubbed(STAGE_1), stubbed(STAGE_2)
    disk = learner_fills(learner_fills(later, "C.connect", "pass"), "C.command", "pass")
    result = regions.merge(earlier, disk, *shipped(earlier, later))
    assert result.text is None and "C.command" in result.refused and "earlier stage" in result.refused
    # the reference's own code is not the learner's: the earlier stage may drop it (the reference notebooks)
    assert regions.merge(STAGE_1, STAGE_2, *shipped(STAGE_1, STAGE_2)).text == STAGE_1


@pytest.mark.parametrize(
    "text, problem",
    [
        ("    ### BEGIN SOLUTION a\nx\n    ### BEGIN SOLUTION b\n", "inside another"),
        ("    ### BEGIN SOLUTION a\nx\n    ### END SOLUTION b\n", "does not close"),
        ("    ### BEGIN SOLUTION a\n    ### END SOLUTION\n    ### BEGIN SOLUTION a\n    ### END SOLUTION\n", "two"),
        ("    # >>> your code: a\nx\n", "never closed"),
    ],
)
def test_markers_that_do_not_pair_up_are_refused(text, problem):
    with pytest.raises(regions.RegionError, match=problem):
        regions.parse(text)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder and a notebooks folder whose .kit-stages.json ships STAGE_1 and STAGE_2 (stubbed)."""
    import json

    monkeypatch.setenv("KIT_PROJECT_DIR", str(tmp_path / "project"))
    (tmp_path / "project").mkdir()
    skeletons, bodies = shipped(stubbed(STAGE_1), stubbed(STAGE_2))
    (tmp_path / project_cells.STAGES_FILE).write_text(
        json.dumps({"project/devices/x.py": {"skeletons": skeletons, "regions": {}}})
    )
    monkeypatch.setattr(project_cells, "NOTEBOOKS_DIR", tmp_path)
    return tmp_path / "project"


def test_write_cell_merges_refuses_and_replace_my_changes_goes_on(project, capsys):
    earlier, later = stubbed(STAGE_1), stubbed(STAGE_2)
    project_cells.write_cell("project/devices/x.py", learner_fills(earlier, "C.connect", "await self.join()  # me"))
    project_cells.write_cell("project/devices/x.py", later)
    target = project / "devices" / "x.py"
    assert "# me" in target.read_text() and "auth.check(self)" in target.read_text()
    assert "kept your code in C.connect; new: C.command" in capsys.readouterr().out

    target.write_text(target.read_text().replace("auth.check(self)", "auth.check(self)  # mine too"))
    with pytest.raises(project_cells.CellRefused) as refused:
        project_cells.write_cell("project/devices/x.py", earlier)
    assert "Not written:" in refused.value._render_traceback_()[0]
    assert "# mine too" in target.read_text()  # nothing written

    project_cells.replace_my_changes("project/devices/x.py")
    project_cells.write_cell("project/devices/x.py", later)
    assert "# me" in target.read_text() and "# mine too" not in target.read_text()
    assert "# mine too" in (project / "devices" / "x.py.before-kit").read_text()
