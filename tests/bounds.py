"""Bounds on real waits in threaded tests: one for the whole suite.

A bound is never waited out when a test passes (tests wait on events and futures, which
end as soon as the engine does its part), so it is generous: it only decides how long
a broken engine hangs before its test fails, and it must outlast a loaded CI machine.
"""

TIMEOUT = 30.0  # seconds
