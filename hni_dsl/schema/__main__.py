from . import write_schema

print(f"wrote {write_schema()}")
