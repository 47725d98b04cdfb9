from gridtwin.core.server import run
from services.features.server import spec

run(spec)
