"""Run unittest modules and report them as cmocka does, so that tests/run
counts every case: "[ RUN      ] name", "[       OK ] name" or
"[  FAILED  ] name", then "[  PASSED  ] N test(s)." and, when any failed,
"[  FAILED  ] N test(s), listed below:" with their names.

The happy path is: load each module named on the command line, run its cases
in definition order, print one line per case and the summary, exit 0.
Failure modes: a case that fails or raises is printed with its traceback and
counted as failed (exit 1); a module that does not import counts as one
failed case named after it; a skipped case counts as failed too, because
the suites must not skip silently.

Usage: runner.py MODULE [MODULE...] [-k SUBSTRING]
"""

import importlib
import sys
import time
import traceback
import unittest


class CmockaResult(unittest.TestResult):
    """A TestResult that prints cmocka-style lines as cases finish."""

    def __init__(self):
        super().__init__()
        self.passedNames = []
        self.failedNames = []
        self.started = 0.0

    def startTest(self, test):
        super().startTest(test)
        self.started = time.time()
        print("[ RUN      ] %s" % test.id(), flush=True)

    def _fail(self, test, err, what):
        print("".join(traceback.format_exception(*err)).rstrip(), flush=True)
        print("[  FAILED  ] %s (%s, %.1f s)" % (test.id(), what, time.time() - self.started), flush=True)
        self.failedNames.append(test.id())

    def addSuccess(self, test):
        super().addSuccess(test)
        print("[       OK ] %s (%.1f s)" % (test.id(), time.time() - self.started), flush=True)
        self.passedNames.append(test.id())

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err, "failure")

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err, "error")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        print("skipped: %s" % reason)
        print("[  FAILED  ] %s (skipped)" % test.id(), flush=True)
        self.failedNames.append(test.id())

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._fail(test, err, "subtest %s" % subtest.id())


def main(argv):
    """Load, run and report; the exit status is 0 only if all passed."""
    names = []
    pattern = None
    i = 0
    while i < len(argv):
        if argv[i] == "-k":
            pattern = argv[i + 1]
            i += 2
            continue
        names.append(argv[i])
        i += 1
    loader = unittest.TestLoader()
    loader.sortTestMethodsUsing = None
    suite = unittest.TestSuite()
    importFailures = []
    for name in names:
        try:
            mod = importlib.import_module(name)
        except Exception:
            traceback.print_exc()
            importFailures.append(name)
            continue
        for case in loader.loadTestsFromModule(mod):
            for t in case:
                if pattern is None or pattern in t.id():
                    suite.addTest(t)
    # cases run in name order within each class (dir() order).
    count = suite.countTestCases() + len(importFailures)
    print("[==========] Running %d test(s)." % count, flush=True)
    result = CmockaResult()
    for name in importFailures:
        print("[  FAILED  ] %s (import)" % name)
        result.failedNames.append(name)
    suite.run(result)
    failed = sorted(set(result.failedNames))
    passed = [n for n in result.passedNames if n not in failed]
    print("[==========] %d test(s) run." % count)
    print("[  PASSED  ] %d test(s)." % len(passed))
    if failed:
        print("[  FAILED  ] %d test(s), listed below:" % len(failed))
        for n in failed:
            print("[  FAILED  ] %s" % n)
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
