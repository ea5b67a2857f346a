"""``python -m sync.emulator [--port P] [--seed demo|N] [--state FILE] [--org-id ID]``."""

import argparse

from sync.emulator.standalone import serve

parser = argparse.ArgumentParser(prog="python -m sync.emulator", description=__doc__)
parser.add_argument("--port", type=int, default=8443)
parser.add_argument("--seed", default=None, help="'demo' or a number of deals")
parser.add_argument("--state", default=None, help="SQLite file to keep the org in")
parser.add_argument("--org-id", default=None)
args = parser.parse_args()
serve(port=args.port, seed=args.seed, state_file=args.state, org_id=args.org_id)
