"""``rnnkit demo``: the whole instructor workflow on a simulated class, end to end.

The class is the same six students across the three assignments, as a class is: one who gets everything right,
some with one realistic bug (from each assignment's bug catalogue), one who handed in the untouched notebook, one
who submitted nothing for the last assignment. The demo builds, submits, grades in the sandbox, renders feedback,
exports and reports, through the same :mod:`autograder.workflow` steps as the command line; the class hands its work
in through nbgrader's own exchange (release, fetch and submit per student, collect), as a real class does.
"""
import time

from autograder import nbgrader_students, project, workflow
from autograder.simulation import catalogue, submissions

# student -> what they hand in for each assignment, by position: "ref" (correct), "stubs" (untouched), None
# (no submission), or an integer k: the k-th catalogued bug of a distinct answer cell.
CLASS = {
    "ada":    ["ref", "ref", "ref"],
    "ben":    [0, 0, 0],
    "chidi":  ["ref", 1, None],
    "dana":   ["stubs", "ref", 1],
    "emeka":  [2, 2, "ref"],
    "farah":  ["ref", "ref", 2],
}


def distinct_bugs(assignment):
    """One catalogued bug per answer cell, in catalogue order: so that the demo's bugs fail different items."""
    chosen, seen = [], set()
    for bug in catalogue.catalogue(assignment):
        if bug.cell not in seen:
            chosen.append(bug)
            seen.add(bug.cell)
    return chosen


def _answers(course, assignment, choice, reference, bugs):
    if isinstance(choice, str):
        return {"ref": reference, "stubs": None}[choice]
    return catalogue.apply(reference, bugs[choice % len(bugs)])


def submit_class(course, assignments, exchange=None, echo=print):
    """The simulated class hands its work in; returns the number of submissions.

    With ``exchange`` (the demo), through nbgrader's own exchange as a real class does: the instructor releases
    each assignment, every student fetches it into a home of its own, fills it in and submits it, and the
    instructor collects. Without, the notebooks are written straight into ``submitted/``."""
    count = 0
    homes = course.path("students")
    for index, assignment in enumerate(assignments):
        reference = submissions.reference_answers(course, assignment)
        bugs = distinct_bugs(assignment)
        if exchange:
            workflow.release(course, assignment, exchange, echo=lambda *_: None)
        for student, plan in CLASS.items():
            choice = plan[index % len(plan)]
            if choice is None:
                continue
            answers = _answers(course, assignment, choice, reference, bugs)
            if exchange:
                person = nbgrader_students.Student(homes, student, exchange, in_process=True)
                person.work(assignment, answers)
                person.submit(assignment)
            else:
                submissions.submit(course, student, assignment, answers)
            count += 1
        if exchange:
            workflow.collect(course, assignment, exchange, echo=echo)
    return count


def run(course, jobs=2, echo=print):
    started = time.time()
    submissions.fresh_course(course)
    workflow.build(course, echo=echo)
    assignments = project.assignments()
    exchange = course.path("exchange")
    count = submit_class(course, assignments, exchange, echo=echo)
    echo(f"\n{count} submissions of {len(CLASS)} students came through nbgrader's exchange ({exchange}): "
         f"fetched and submitted from their own folders ({course.path('students')}), collected")
    echo(f"grading them ({jobs} at a time)")
    _, failures, level = workflow.autograde(course, assignments, jobs=jobs, echo=echo)
    workflow.feedback(course, exchange=exchange, echo=echo)   # students fetch it: nbgrader fetch_feedback
    workflow.export(course, echo=echo)
    echo("")
    plot = workflow.report(course, echo=echo)
    echo(f"feedback HTML: {course.path('feedback', '<student>', '<assignment>', '<assignment>.html')}")
    echo(f"score plot:    {plot}")
    echo(f"demo finished in {time.time() - started:.0f} s")
    warning = workflow.sandbox_warning(level)
    if warning:
        echo(warning)
    return 1 if failures else 0
