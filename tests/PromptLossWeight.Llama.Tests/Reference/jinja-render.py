# Reference renderings from Jinja2 (Debian's python3-jinja2) with Hugging Face's settings.
# Usage: python3 jinja-render.py <cases.json> <out.json>
# cases.json: {"template": str, "context": {...}, "cases": [{"messages": [...], "add_generation_prompt": bool}]}
# The output holds one rendering per case, or {"error": message} when the template raised.
import json
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


with open(sys.argv[1], encoding="utf-8") as f:
    spec = json.load(f)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
template = env.from_string(spec["template"])
out = []
for case in spec["cases"]:
    try:
        out.append(template.render(**spec.get("context", {}), messages=case["messages"],
                                   add_generation_prompt=case["add_generation_prompt"]))
    except jinja2.exceptions.TemplateError as e:
        out.append({"error": str(e)})
with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False)
