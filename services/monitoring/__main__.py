from gridtwin.core.server import run
from services.monitoring.server import spec

run(spec)
