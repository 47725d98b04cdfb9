from gridtwin.core.server import run
from services.ingest.server import spec

run(spec)
