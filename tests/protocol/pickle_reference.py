"""An independent reference for the C++ pickle reader: walks Python's own
`pickletools.genops` and builds the same inert tree, then prints it in the canonical
form of protocol/pickle/pickle_writer.h:DumpPickleTree. Nothing is unpickled."""
from __future__ import annotations

import pickletools
import struct


class Node:
    __slots__ = ("kind", "value", "items", "state", "list_items", "dict_items", "effects")

    def __init__(self, kind, value=None, items=None):
        self.kind = kind
        self.value = value
        self.items = list(items or [])
        self.state = None
        self.list_items = []
        self.dict_items = []
        self.effects = []


def _escape(raw: bytes) -> str:
    out = ["'"]
    for c in raw:
        ch = chr(c)
        if ch in "\\'":
            out.append("\\" + ch)
        elif 0x20 <= c < 0x7F:
            out.append(ch)
        else:
            out.append("\\x%02x" % c)
    out.append("'")
    return "".join(out)


MARK = object()


def build_tree(data: bytes, nbuffers: list[int]):
    """Return the root Node. `nbuffers` lists the out-of-band buffer sizes."""
    stack: list = []
    memo: dict = {}
    next_buffer = 0
    for opcode, arg, pos in pickletools.genops(data):
        name = opcode.name

        def pop_mark():
            i = len(stack) - 1 - stack[::-1].index(MARK)
            items = stack[i + 1 :]
            del stack[i:]
            return items

        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            return stack.pop()
        if name == "MARK":
            stack.append(MARK)
        elif name == "POP":
            top = stack.pop()
            if top is not MARK:
                stack[-1].effects.append(top)
        elif name == "POP_MARK":
            pop_mark()
        elif name == "DUP":
            stack.append(stack[-1])
        elif name == "NONE":
            stack.append(Node("none"))
        elif name in ("NEWTRUE", "NEWFALSE"):
            stack.append(Node("bool", name == "NEWTRUE"))
        elif name in ("BININT", "BININT1", "BININT2"):
            stack.append(Node("int", arg))
        elif name in ("LONG1", "LONG4"):
            width = 1 if name == "LONG1" else 4
            n = int.from_bytes(data[pos + 1 : pos + 1 + width], "little", signed=True)
            raw = data[pos + 1 + width : pos + 1 + width + n]
            stack.append(Node("int", arg) if n <= 8 else Node("long", raw))
        elif name == "BINFLOAT":
            stack.append(Node("float", struct.pack(">d", arg)))
        elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"):
            stack.append(Node("str", arg.encode("utf-8", "surrogatepass")))
        elif name in ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8"):
            stack.append(Node("bytes", arg))
        elif name == "BYTEARRAY8":
            stack.append(Node("bytearray", arg))
        elif name == "NEXT_BUFFER":
            stack.append(Node("buffer", [next_buffer, False, nbuffers[next_buffer]]))
            next_buffer += 1
        elif name == "READONLY_BUFFER":
            if stack[-1].kind == "buffer":
                stack[-1].value[1] = True
        elif name == "EMPTY_TUPLE":
            stack.append(Node("tuple"))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = stack[-n:]
            del stack[-n:]
            stack.append(Node("tuple", items=items))
        elif name == "TUPLE":
            stack.append(Node("tuple", items=pop_mark()))
        elif name == "EMPTY_LIST":
            stack.append(Node("list"))
        elif name == "LIST":
            stack.append(Node("list", items=pop_mark()))
        elif name == "EMPTY_DICT":
            stack.append(Node("dict"))
        elif name == "DICT":
            stack.append(Node("dict", items=pop_mark()))
        elif name == "EMPTY_SET":
            stack.append(Node("set"))
        elif name == "FROZENSET":
            stack.append(Node("frozenset", items=pop_mark()))
        elif name in ("APPEND", "APPENDS"):
            items = [stack.pop()] if name == "APPEND" else pop_mark()
            target = stack[-1]
            (target.items if target.kind == "list" else target.list_items).extend(items)
        elif name in ("SETITEM", "SETITEMS"):
            if name == "SETITEM":
                v = stack.pop()
                k = stack.pop()
                items = [k, v]
            else:
                items = pop_mark()
            target = stack[-1]
            (target.items if target.kind == "dict" else target.dict_items).extend(items)
        elif name == "ADDITEMS":
            items = pop_mark()
            stack[-1].items.extend(items)
        elif name == "GLOBAL":
            module, qualname = arg.split(" ", 1)
            stack.append(Node("global", (module, qualname)))
        elif name == "STACK_GLOBAL":
            qual = stack.pop()
            module = stack.pop()
            stack.append(Node("global", (module.value.decode(), qual.value.decode())))
        elif name == "REDUCE":
            args = stack.pop()
            func = stack.pop()
            stack.append(Node("reduce", items=[func, args]))
        elif name == "NEWOBJ":
            args = stack.pop()
            cls = stack.pop()
            stack.append(Node("newobj", items=[cls, args]))
        elif name == "NEWOBJ_EX":
            kwargs = stack.pop()
            args = stack.pop()
            cls = stack.pop()
            stack.append(Node("newobj_ex", items=[cls, args, kwargs]))
        elif name == "BUILD":
            state = stack.pop()
            stack[-1].state = state
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        else:
            raise ValueError(f"opcode {name} not in the reference")
    raise ValueError("no STOP")


def dump(node: Node, on_path=None) -> str:
    on_path = on_path if on_path is not None else set()
    if id(node) in on_path:
        return "<cycle>"
    on_path.add(id(node))
    try:
        return _dump_node(node, on_path) + _dump_after(node, on_path)
    finally:
        on_path.discard(id(node))


def _seq(items, open_, close, on_path):
    return open_ + ", ".join(dump(i, on_path) for i in items) + close


def _pairs(items, on_path):
    return "{" + ", ".join(
        dump(items[i], on_path) + ": " + dump(items[i + 1], on_path)
        for i in range(0, len(items) - 1, 2)
    ) + "}"


def _dump_node(n: Node, on_path) -> str:
    k = n.kind
    if k == "none":
        return "None"
    if k == "bool":
        return "True" if n.value else "False"
    if k == "int":
        return str(n.value)
    if k == "long":
        return "long:" + n.value.hex()
    if k == "float":
        return "float:" + n.value.hex()
    if k == "str":
        return _escape(n.value)
    if k == "bytes":
        return "b" + _escape(n.value)
    if k == "bytearray":
        return "bytearray(b" + _escape(n.value) + ")"
    if k == "tuple":
        return _seq(n.items, "(", ")", on_path)
    if k == "list":
        return _seq(n.items, "[", "]", on_path)
    if k == "dict":
        return _pairs(n.items, on_path)
    if k == "set":
        return _seq(n.items, "set{", "}", on_path)
    if k == "frozenset":
        return _seq(n.items, "frozenset{", "}", on_path)
    if k == "global":
        return f"global({n.value[0]}, {n.value[1]})"
    if k == "buffer":
        i, ro, size = n.value
        return f"buffer({i}, {'ro' if ro else 'rw'}, {size})"
    out = k + _seq(n.items, "(", ")", on_path)
    if n.list_items:
        out += " append" + _seq(n.list_items, "[", "]", on_path)
    if n.dict_items:
        out += " setitems" + _pairs(n.dict_items, on_path)
    return out


def _dump_after(n: Node, on_path) -> str:
    out = ""
    if n.state is not None:
        out += " state=" + dump(n.state, on_path)
    if n.effects:
        out += " effects" + _seq(n.effects, "[", "]", on_path)
    return out
