"""Export a design as a small, self-contained PyTorch or JAX module (``designer export``).

The module is generated from the *validated* specs of one candidate of a design result: the
family spec (``param``) and the mechanism spec (``mechanism_spec``) are parsed by the registries'
pydantic models first, then each part is one template piece looked up in a table keyed by the
spec's ``family`` / ``basis`` / transform ``kind`` / mechanism ``kind`` (:mod:`._torch`,
:mod:`._jax`), filled by :class:`string.Template` with numbers written as Python literals. Nothing
from the request is executed or evaluated, and no text from it reaches the code: identifiers come
from the pieces, values are ``repr(float)`` / ``repr(int)``, the JSON shown in the docstring is
the validated spec re-serialised. A spec without a piece raises
:class:`designer.errors.DesignerInputError` naming the field (``param.family``,
``param.transform.kind``, ``mechanism_spec.kind``).
"""

from __future__ import annotations

import ast
import json
import math
import re
from string import Template
from typing import Any, Callable

from ..errors import DesignerInputError
from . import _jax, _torch

#: framework -> its template pieces.
FRAMEWORKS: dict[str, Any] = {"torch": _torch, "jax": _jax}

#: File name of each framework's export among a design job's artifacts.
ARTIFACT_NAMES = {"torch": "parameterization_torch.py", "jax": "parameterization_jax.py"}

#: Initial scale of the exported initialisation (the default ``init_scale`` of ``designer validate``).
INIT_SCALE = 1.0


def _num(value: Any, field: str) -> str:
    """A finite real number as a Python float literal."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise DesignerInputError(field, f"expected a finite number, got {value!r}"[:200])
    return repr(float(value))


def _int(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DesignerInputError(field, f"expected an integer, got {value!r}"[:200])
    return repr(int(value))


def _unknown(field: str, kind: str, known) -> DesignerInputError:
    return DesignerInputError(field, f"no export template for {kind!r}; exportable: {', '.join(sorted(known))}")


# -- pieces: key -> (template name, values from the validated spec) ------------------------------

BASES = {"identity": "BASIS_IDENTITY", "cosine": "BASIS_COSINE", "cumsum": "BASIS_CUMSUM", "haar": "BASIS_HAAR",
         "cumsum2d": "BASIS_CUMSUM2D", "matrix": "BASIS_MATRIX"}
#: The bases of vector and of matrix predictors (``matrix``: a given matrix on the flattened predictor).
VECTOR_BASES, MATRIX_BASES = ("identity", "cosine", "cumsum", "haar", "matrix"), ("identity", "cumsum2d", "matrix")
#: Largest side of a given matrix written into an exported module (it holds B and its inverse as
#: literals: at 256, about 2.6 MB of source).
EXPORT_MAX_MATRIX = 256


def _basis(spec, fam_basis, shape: tuple[int, ...]) -> tuple[str, tuple[str, dict]]:
    """``(name, piece)`` of the family's fixed linear map; a given matrix is written as literals."""
    name = spec.basis if isinstance(spec.basis, str) else getattr(spec.basis, "kind", type(spec.basis).__name__)
    if name not in BASES:
        raise _unknown("param.basis", name, BASES)
    allowed = VECTOR_BASES if len(shape) == 1 else MATRIX_BASES
    if name not in allowed:
        raise DesignerInputError("param.basis", f"basis {name!r} does not apply to predictors of shape {list(shape)}; "
                                                f"exportable: {', '.join(allowed)}")
    if name != "matrix":
        return name, (BASES[name], {})
    side = int(fam_basis.values.shape[0])
    if side > EXPORT_MAX_MATRIX:
        raise DesignerInputError("param.basis.values", f"a given matrix is exported up to side {EXPORT_MAX_MATRIX} "
                                                       f"(written out as literals), got {side}")
    rows = lambda a, f: "(" + ", ".join(_nums(r, f"{f}[{i}]") for i, r in enumerate(a)) + ",)"
    return name, (BASES[name], {"values": rows(fam_basis.values, "param.basis.values"),
                                "inverse": rows(fam_basis.inverse, "param.basis.inverse")})

TRANSFORMS: dict[str, tuple[str, Callable[[Any], dict]]] = {
    "identity": ("TRANSFORM_IDENTITY", lambda t: {}),
    "asinh": ("TRANSFORM_ASINH", lambda t: {"scale": _num(t.scale, "param.transform.scale")}),
    "signed_power": ("TRANSFORM_SIGNED_POWER", lambda t: {"exponent": _num(t.exponent, "param.transform.exponent")}),
    "table": ("TRANSFORM_TABLE", lambda t: _table_values(t)),
}


def _nums(values, field: str) -> str:
    return "(" + ", ".join(_num(float(v), f"{field}[{i}]") for i, v in enumerate(values)) + ",)"


def _table_values(spec) -> dict:
    """The built table (validated: increasing knots, monotone slopes) as float literals."""
    table = spec.build("param.transform")
    return {"knots_y": _nums(table.knots_y, "param.transform.y"), "knots_x": _nums(table.knots_x, "param.transform.x"),
            "slopes": _nums(table.slopes, "param.transform.slopes"),
            "end_slope": _num(float(table.end_slope), "param.transform.slopes")}


def _hadamard(spec, fam) -> tuple[str, list]:
    tkind = spec.transform.kind if spec.transform is not None else "identity"
    shape = tuple(int(s) for s in fam.predictor_shape)
    basis, basis_piece = _basis(spec, fam.basis, shape)
    if tkind not in TRANSFORMS:
        raise _unknown("param.transform.kind", tkind, TRANSFORMS)
    tname, tvalues = TRANSFORMS[tkind]
    title = f"Hadamard product of depth {fam.depth} (basis {basis}, transform {tkind})"
    return title, [("HADAMARD", {"depth": _int(fam.depth, "param.depth"), "dim": _int(math.prod(shape), "param.dim"),
                                 "shape": repr(shape)}),
                   basis_piece, (tname, tvalues(spec.transform) if spec.transform is not None else {})]


def _group_hadamard(spec, fam):
    return (f"Group-shared scales (groups of {fam.group_size})",
            [("GROUP_HADAMARD", {"dim": _int(fam.dim, "param.dim"), "group_size": _int(fam.group_size, "param.group_size")})])


def _interval_hadamard(spec, fam):
    return (f"Hadamard product of depth 2 behind the interval dictionary (lambda {float(fam.lam):g})",
            [("INTERVAL_HADAMARD", {"dim": _int(fam.dim, "param.dim"), "lam": _num(float(fam.lam), "param.lambda")})])


def _matrix_product(spec, fam):
    return (f"Matrix product of depth {fam.depth}, rank {fam.rank}",
            [("MATRIX_PRODUCT", {"names": repr(tuple(f"W{k + 1}" for k in range(int(fam.depth)))),
                                 "depth": _int(fam.depth, "param.depth"), "rows": _int(fam.rows, "param.rows"),
                                 "cols": _int(fam.cols, "param.cols"), "rank": _int(fam.rank, "param.rank")})])


def _scalar_product(spec, fam):
    return "Scalar product z = u v", [("SCALAR_PRODUCT", {})]


def _relu_two_layer(spec, fam):
    return (f"Two-layer ReLU network ({fam.hidden} hidden units)",
            [("RELU_TWO_LAYER", {"hidden": _int(fam.hidden, "param.hidden"), "inputs": _int(fam.inputs, "param.inputs"),
                                 "outputs": _int(fam.outputs, "param.outputs")})])


def _attention_qk(spec, fam):
    if fam.symmetry not in ("columns", "gl"):
        raise _unknown("param.symmetry", fam.symmetry, ("columns", "gl"))
    return (f"Attention Q/K ({fam.symmetry} symmetry)",
            [("ATTENTION_QK", {"d_emb": _int(fam.d_emb, "param.d_emb"), "d_head": _int(fam.d_head, "param.d_head"),
                               "symmetry": fam.symmetry, "per_column": repr(fam.symmetry == "columns")})])


def _free(spec, fam):
    shape = tuple(int(v) for v in fam.shape)
    return ("Free parameters", [("FREE", {"shape": repr(shape), "constant": repr(fam.span == "constant")})])


def _linear(spec, fam):
    if len(fam.predictor_shape) != 1:
        raise DesignerInputError("param", f"export supports vector linear maps, got shape {list(fam.predictor_shape)}")
    basis, basis_piece = _basis(spec, fam.basis, tuple(fam.predictor_shape))
    return f"Linear map (basis {basis})", [("LINEAR", {"dim": _int(int(fam.predictor_shape[0]), "param.dim")}), basis_piece]


def _sum(spec, fam):
    """Marker: a sum is rendered from its terms' pieces by :func:`_sum_source`."""
    return "sum", []


#: family name -> piece builder ``(validated spec, built family) -> (title, [(template, values)])``.
FAMILY_PIECES: dict[str, Callable] = {
    "free": _free,
    "linear": _linear,
    "sum": _sum,
    "hadamard": _hadamard,
    "group_hadamard": _group_hadamard,
    "interval_hadamard": _interval_hadamard,
    "matrix_product": _matrix_product,
    "scalar_product": _scalar_product,
    "relu_two_layer": _relu_two_layer,
    "attention_qk": _attention_qk,
}


def _weight_decay(mspec, hp, strength):
    return "weight decay", ("WEIGHT_DECAY", {"weight_decay": _num(mspec.strength, "mechanism_spec.strength"), "strength": strength})


def _label_noise(mspec, hp, strength):
    return "SGD with label noise", ("LABEL_NOISE", {"variance": _num(mspec.variance, "mechanism_spec.variance"),
                                                    "learning_rate": _num(mspec.learning_rate, "mechanism_spec.learning_rate"),
                                                    "strength": strength})


def _gauge(mspec, hp, strength):
    t = float(mspec.temperature)
    s2 = hp.get("gradient_noise_variance", 1.0)
    _num(s2, "hyperparameters.gradient_noise_variance")
    if not s2 > 0:
        raise DesignerInputError("hyperparameters.gradient_noise_variance", f"must be positive, got {s2!r}")
    return "SGD at temperature T", ("GAUGE", {"temperature": _num(t, "mechanism_spec.temperature"),
                                              "gradient_noise_variance": _num(s2, "hyperparameters.gradient_noise_variance"),
                                              "ratio": _num(2.0 * t / float(s2), "hyperparameters.learning_rate_over_batch_size"),
                                              "strength": strength})


#: mechanism kind -> piece builder ``(validated spec, hyperparameters, strength literal) -> (title, piece)``.
MECHANISM_PIECES: dict[str, Callable] = {"weight_decay": _weight_decay, "label_noise": _label_noise, "gauge": _gauge}


# -- the exporter ----------------------------------------------------------------------------------

def _render(pieces, fam_pieces) -> str:
    return "".join(Template(getattr(pieces, name)).substitute(values) for name, values in fam_pieces)


def _prefixed(source: str, prefix: str) -> str:
    """``source`` (one family's rendered pieces) with every name it defines at top level prefixed,
    so that the terms of a sum live side by side in one module. The names come from our templates."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for name in sorted(names, key=len, reverse=True):
        source = re.sub(rf"(?<![\w.]){re.escape(name)}\b", prefix + name, source)
    return source


def _sum_source(spec, fam, pieces, field: str = "param") -> tuple[str, str]:
    """Title and source of a sum: each term's pieces, prefixed, then the SUM piece."""
    from ..families import parse_param_spec

    texts, terms, names, free, titles, balance = [], [], [], [], [], None
    for k, (raw, term) in enumerate(zip(spec.terms, fam.terms)):
        tspec = parse_param_spec(raw, f"{field}.terms[{k}]")
        if tspec.family == "sum" or tspec.family not in FAMILY_PIECES:
            raise _unknown(f"{field}.terms[{k}].family", tspec.family, sorted(set(FAMILY_PIECES) - {"sum"}))
        title, fam_pieces = FAMILY_PIECES[tspec.family](tspec, term)
        prefix = f"_t{k}_"
        text = _render(pieces, fam_pieces)
        texts.append(_prefixed(text, prefix))
        p = prefix
        terms.append(f"({p}NAMES, {p}predictor, {p}balanced_factors, {p}initial_factors)" if pieces is _torch
                     else f"({p}NAMES, {p}predictor, {p}balanced, {p}init)")
        term_names = _names_of(text)
        names += [f"{k}.{n}" for n in term_names]
        if tspec.family == "free":
            free += [f"{k}.{n}" for n in term_names]
        elif balance is None and getattr(term, "rank", None) in (None, min(term.predictor_shape or (0,))):
            balance = k
        titles.append(f"{float(fam.weights[k]):g} x {title}")
    if balance is None:
        raise DesignerInputError(f"{field}.terms", "a sum needs a term that reaches every predictor (for its balanced factors)")
    values = {"names": repr(tuple(names)), "free_names": repr(tuple(free)),
              "weights": "(" + ", ".join(_num(float(w), f"{field}.weights[{k}]") for k, w in enumerate(fam.weights)) + ",)",
              "terms": "(" + ", ".join(terms) + ",)", "balance_term": repr(balance)}
    return "Sum of " + " + ".join(titles), "".join(texts) + Template(pieces.SUM).substitute(values)


def _names_of(source: str) -> tuple[str, ...]:
    """The ``NAMES`` literal a family piece defines (the order of its factors)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "NAMES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("a family piece defines NAMES")


def pick_candidate(design: Any, candidate: str | None = None) -> dict:
    """The design's best entry, or its candidate with id ``candidate``."""
    if not isinstance(design, dict) or not isinstance(design.get("best"), dict) or not isinstance(design.get("candidates"), list):
        raise DesignerInputError("design", "not a design result (expected the JSON written by 'designer design')")
    if candidate is None:
        return design["best"]
    for entry in design["candidates"]:
        if isinstance(entry, dict) and entry.get("id") == candidate:
            return entry
    ids = [str(c.get("id")) for c in design["candidates"][:5] if isinstance(c, dict)]
    raise DesignerInputError("candidate", f"no candidate {candidate!r} in the design (its ids: {', '.join(ids)}, ...)"[:400])


def export_design(design: Any, framework: str, candidate: str | None = None) -> str:
    """The Python source of the chosen candidate's module for ``framework`` (``torch`` or ``jax``)."""
    from ..families import FAMILIES, parse_param_spec
    from ..mechanisms import parse_mechanism_spec

    if framework not in FRAMEWORKS:
        raise DesignerInputError("framework", f"unsupported framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")
    pieces = FRAMEWORKS[framework]
    entry = pick_candidate(design, candidate)
    if "param" not in entry:
        raise DesignerInputError("param", "the candidate has no parameterization spec")
    raw = entry["param"]
    kind = raw.get("family") if isinstance(raw, dict) else None
    if isinstance(kind, str) and kind in FAMILIES and kind not in FAMILY_PIECES:
        raise _unknown("param.family", kind, FAMILY_PIECES)
    spec = parse_param_spec(raw, "param")
    shape = design.get("shape")
    shape = tuple(shape) if isinstance(shape, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in shape) else None
    family = spec.build(shape)
    if spec.family not in FAMILY_PIECES:
        raise _unknown("param.family", spec.family, FAMILY_PIECES)
    if spec.family == "sum":
        title, fam_text = _sum_source(spec, family, pieces)
    else:
        title, fam_pieces = FAMILY_PIECES[spec.family](spec, family)
        fam_text = _render(pieces, fam_pieces)

    if entry.get("mechanism_spec") is None:
        raise DesignerInputError("mechanism_spec", "the candidate has no mechanism settings (its hyperparameters leave the "
                                 "mechanism's valid range for the requested strength); choose another candidate or strength")
    mspec = parse_mechanism_spec(entry["mechanism_spec"], "mechanism_spec")
    if mspec.kind not in MECHANISM_PIECES:
        raise _unknown("mechanism_spec.kind", mspec.kind, MECHANISM_PIECES)
    if getattr(mspec, "second_moment", None) is not None:
        raise DesignerInputError("mechanism_spec.second_moment", "export supports isotropic inputs only (no second_moment)")
    hp = entry.get("hyperparameters") if isinstance(entry.get("hyperparameters"), dict) else {}
    strength = design.get("strength", hp.get("strength", 1.0))
    strength_lit = _num(strength, "strength")
    mtitle, mech_piece = MECHANISM_PIECES[mspec.kind](mspec, hp, strength_lit)

    from ..targets import TARGETS

    target = design.get("target") if isinstance(design.get("target"), dict) else {}
    tkind = target.get("kind")
    target_text = json.dumps({"kind": tkind}) if isinstance(tkind, str) and (tkind in TARGETS or tkind == "tabulated") else "(not stated)"
    shape_lit = repr(tuple(int(s) for s in family.predictor_shape))
    header = {"title": f"{title}, trained with {mtitle}.", "param_json": json.dumps(spec.model_dump(mode="json", exclude_none=True)),
              "mechanism_json": json.dumps(mspec.model_dump(mode="json", exclude_none=True)), "target_json": target_text,
              "strength": strength_lit, "predictor_shape": shape_lit, "init_scale": _num(INIT_SCALE, "init_scale")}
    parts = [Template(pieces.HEADER).substitute(header)]
    parts.append(fam_text)
    parts.append(pieces.MODULES)
    parts.append(Template(getattr(pieces, mech_piece[0])).substitute(mech_piece[1]))
    source = "".join(parts).rstrip() + "\n"
    source = re.sub(r"\n{4,}", "\n\n\n", source)
    compile(source, f"<{ARTIFACT_NAMES[framework]}>", "exec")  # syntax only: nothing is run
    return source


__all__ = ["ARTIFACT_NAMES", "FAMILY_PIECES", "FRAMEWORKS", "MECHANISM_PIECES", "export_design", "pick_candidate"]
