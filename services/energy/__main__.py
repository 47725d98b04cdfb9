from gridtwin.core.server import run
from services.energy.server import spec

run(spec)
