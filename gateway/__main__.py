from gateway.server import spec
from gridtwin.core.server import run

run(spec)
