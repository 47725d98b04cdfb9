from gridtwin.core.server import run
from services.maintenance.server import spec

run(spec)
