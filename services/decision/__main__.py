from gridtwin.core.server import run
from services.decision.server import spec

run(spec)
