from gridtwin.core.server import run
from services.history.server import spec

run(spec)
