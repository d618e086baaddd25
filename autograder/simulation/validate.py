"""``rnnkit validate``: proves a hidden suite with the real grader, over several grader seeds.

The reference and every correct variant must score full marks on every item under every seed (no false failure);
every catalogued bug must lose points on its own item (caught) and on no other (no collateral loss). Bugs are packed
one per answer cell into a submission: each item is graded with the reference of the items it builds on, so each
item's verdict still speaks of one bug alone.

By default a bug or variant submission skips the training items it does not change (those items run the reference of
every earlier item, so a change elsewhere cannot reach them); the reference runs everything, and ``full=True`` runs
every item for every submission.
"""
from dataclasses import dataclass, field
import time

from autograder import notebooks
from autograder.grading import batch
from autograder.simulation import catalogue, submissions

TRAINING_ITEMS = {"train_sentiment", "train_char_lm"}


def pack(bugs):
    """Groups bugs into as few submissions as possible, at most one bug per answer cell."""
    groups = []
    for bug in bugs:
        for group in groups:
            if all(bug.cell != other.cell for other in group):
                group.append(bug)
                break
        else:
            groups.append([bug])
    return groups


@dataclass
class Report:
    assignment: str
    seeds: int
    correct: dict = field(default_factory=dict)    # name -> seeds at full marks
    bugs: dict = field(default_factory=dict)       # bug name -> seeds caught on its own item
    bug_seeds: int = 0
    problems: list = field(default_factory=list)   # one line per false failure, missed bug or collateral loss
    collateral: int = 0
    seconds: float = 0.0

    @property
    def false_failures(self):
        return sum(self.seeds - n for n in self.correct.values())

    @property
    def missed(self):
        return sum(self.bug_seeds - n for n in self.bugs.values())

    def ok(self):
        return not self.problems

    def lines(self):
        full = sum(self.correct.values())
        caught = sum(1 for n in self.bugs.values() if n == self.bug_seeds)
        return [f"{self.assignment}: reference + {len(self.correct) - 1} variants at full marks: {full}/"
                f"{self.seeds * len(self.correct)} gradings over {self.seeds} grader seeds",
                f"{self.assignment}: bugs caught on their own item under every seed: {caught}/{len(self.bugs)} "
                f"({self.bug_seeds} seeds each); collateral losses: {self.collateral}",
                f"{self.assignment}: {self.seconds:.0f} s"] + [f"  {p}" for p in self.problems]

    def markdown(self):
        rows = [f"| {name} | {n}/{self.seeds} |" for name, n in self.correct.items()]
        rows += [f"| bug `{name}` caught | {n}/{self.bug_seeds} |" for name, n in self.bugs.items()]
        return "\n".join([f"### {self.assignment}", "", *self.lines()[:3], "", "| submission | result |",
                          "| --- | --- |", *rows, "", *(f"- {p}" for p in self.problems), ""])


def validate(course, assignment, seeds=20, bug_seeds=None, jobs=1, level="bubblewrap", full=False, echo=print):
    """Grades the reference, the variants and the packed catalogue of ``assignment`` (built in ``course``) under
    ``seeds`` grader seeds (``bug_seeds`` for the bugs, default the same); returns a :class:`Report`."""
    started = time.time()
    bug_seeds = seeds if bug_seeds is None else bug_seeds
    reference = submissions.reference_answers(course, assignment)
    every_item = set(notebooks.layout(notebooks.read(course.source_notebook(assignment))).answers)
    variants = catalogue.variants(assignment)
    correct = {"reference": reference}
    correct.update({f"variant-{v.name}": catalogue.apply(reference, v) for v in variants})
    cells = {f"variant-{v.name}": {v.cell} for v in variants}
    groups = pack(catalogue.catalogue(assignment))
    report = Report(assignment, seeds, correct=dict.fromkeys(correct, 0),
                    bugs={b.name: 0 for g in groups for b in g}, bug_seeds=bug_seeds)
    plan, items, salts = {}, {}, {}
    for seed in range(seeds):
        for name, answers in correct.items():
            plan[f"{name}.s{seed}"] = answers
            salts[f"{name}.s{seed}"] = str(seed)
            if name in cells and not full:
                items[f"{name}.s{seed}"] = sorted((every_item - TRAINING_ITEMS) | cells[name])
    for seed in range(bug_seeds):
        for number, group in enumerate(groups):
            student = f"bugs{number:02d}.s{seed}"
            mutated = reference
            for bug in group:
                mutated = catalogue.apply(mutated, bug)
            plan[student], salts[student] = mutated, str(seed)
            if not full:
                items[student] = sorted((every_item - TRAINING_ITEMS) | {bug.cell for bug in group})
    for student, answers in plan.items():
        submissions.submit(course, student, assignment, answers)
    graded, failures = batch.autograde(course, [assignment], list(plan), level, force=True, jobs=jobs, echo=echo,
                                       items=items, salts=salts)
    if failures:
        report.problems.append(f"{failures} submission(s) could not be graded (see the grader logs)")
    for student, res in graded.items():
        student = student[0]
        name, seed = student.rsplit(".s", 1)
        lost = {item for item, score in res.items().items() if score.lost}
        if name in correct:
            if lost:
                detail = "; ".join(f"{t.name}: {t.message.splitlines()[0] if t.message else ''}"
                                   for t in res.tests if not t.passed)
                report.problems.append(f"FALSE FAILURE {name} (seed {seed}): {detail}")
            else:
                report.correct[name] += 1
            continue
        group = groups[int(name[len("bugs"):])]
        for bug in group:
            if bug.cell in lost:
                report.bugs[bug.name] += 1
            else:
                report.problems.append(f"MISSED {bug.name} on {bug.cell} (seed {seed}): {bug.why}")
        wrongly = lost - {bug.cell for bug in group}
        if wrongly:
            report.collateral += len(wrongly)
            detail = "; ".join(f"{t.name}: {t.message.splitlines()[0] if t.message else ''}"
                               for t in res.tests if t.item in wrongly and not t.passed)
            report.problems.append(f"COLLATERAL {[b.name for b in group]} (seed {seed}) also lost "
                                   f"{sorted(wrongly)}: {detail}")
    report.seconds = time.time() - started
    return report


def run(course, assignments=(), seeds=20, bug_seeds=None, jobs=2, full=False, markdown=None, echo=print):
    """``rnnkit validate``: builds a fresh course of its own, validates each assignment, prints the report;
    returns the exit code (1 if anything failed)."""
    from autograder import project, workflow
    from autograder.sandbox import launch
    submissions.fresh_course(course)
    workflow.build(course, list(assignments) or None, echo=echo)
    level = launch.best_level()
    reports = []
    for assignment in assignments or project.assignments():
        report = validate(course, assignment, seeds, bug_seeds, jobs, level, full, echo=lambda *_: None)
        reports.append(report)
        echo("\n".join(report.lines()))
    if markdown:
        with open(markdown, "w") as f:
            f.write(f"# rnnkit validate (sandbox: {level}, seeds: {seeds}, full: {full})\n\n"
                    + "\n".join(r.markdown() for r in reports))
        echo(f"report: {markdown}")
    return 0 if all(r.ok() for r in reports) else 1
