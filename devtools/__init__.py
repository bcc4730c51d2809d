"""Development and operations tooling, beside `bench/` and above the product: the embedded stack and its supervisor
(`stack`, `processes`), the production peers started from Debian's binaries (`peers`: PostgreSQL, Redis), a local
Milvus server (`milvus_server`), the crash drill (`fault_drill`), the demo client (`demo`) and catalogue seeding
from the procedural generator (`catalogue_seed`), with the `runstack`, `demo` and `seed_catalogue` management
commands. Nothing in `marketplace`, `workers`, `imagegen` or `search` imports it.
"""
