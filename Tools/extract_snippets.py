#!/usr/bin/env python3
"""Turns the ```swift blocks of README.md and of the DocC articles into XCTest tests.

    python3 Tools/extract_snippets.py           # writes Tests/DocumentationTests/Snippets.swift
    python3 Tools/extract_snippets.py --check   # exits 1 when that file is stale (CI runs this)

One test method per README section (`## ...`) and one per article
(Sources/Fluxion/Fluxion.docc/*.md, the landing page included). The blocks of a section or an
article are concatenated in order inside its method, so a later block uses what an earlier one
declared. Every block runs under `#sourceLocation`, so a compile error or a failed expectation
names the Markdown file and line.

Inside a block:
- `import X` lines move to the top of the generated file (`import Fluxion` is always there).
- `// expect: <check>`, on a line of its own or after a complete statement, becomes an assertion
  on that same line. `<check>` is one of
      A ≈ B          |A − B| ≤ 1e-4·max(1, |B|) elementwise (A: Tensor, Double, Float or [Double];
                     B: a number or an array literal; a one-element tensor against a number)
      A ≈ B ± T      the same with tolerance T
      A == B         XCTAssertEqual(A, B) (XCTAssertNil(A) when B is nil)
      anything else  XCTAssertTrue(<check>)
- Lines `<!-- expect: <check> -->` right after a block's closing fence are checks of that block
  that do not show (README.md uses them, so that its snippets read as plain code).
- A block preceded by the line `<!-- snippet: skip -->` is not compiled (e.g. a Package.swift
  fragment). Blocks fenced as anything but ```swift are ignored.

Each test runs in a fresh temporary directory (the current directory is changed for the test), so a
snippet may write files such as "model.safetensors" by plain relative names. Methods may `throw`.
"""

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CATALOG = pathlib.Path("Sources/Fluxion/Fluxion.docc")
OUTPUT = pathlib.Path("Tests/DocumentationTests/Snippets.swift")
SKIP_MARKER = "<!-- snippet: skip -->"
EXPECT = "// expect:"


class SnippetError(Exception):
    pass


def camel(title):
    """'Layers, optimisers and PyTorch files' -> 'LayersOptimisersAndPyTorchFiles'."""
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(w[0].upper() + w[1:] for w in words)


HIDDEN_EXPECT = re.compile(r"<!--\s*expect:(.*)-->")


def swift_blocks(path, text):
    """Yields (heading, first_line_number, [lines], [(line_number, check)]) for every compiled
    ```swift block, the last list holding the hidden `<!-- expect: -->` checks after it.

    `heading` is the text of the nearest `## ` heading above the block (None before the first).
    Line numbers are 1-based; the first refers to the first line inside the fence.
    """
    lines = text.split("\n")
    heading = None
    i = 0
    previous = ""  # the last non-blank line before the current one
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            info = line[3:].strip()
            start = i + 1
            j = start
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if j == len(lines):
                raise SnippetError(f"{path}:{i + 1}: code block is not closed")
            hidden = []
            k = j + 1
            while k < len(lines) and HIDDEN_EXPECT.fullmatch(lines[k].strip()):
                hidden.append((k + 1, HIDDEN_EXPECT.fullmatch(lines[k].strip()).group(1)))
                k += 1
            if info == "swift" and previous.strip() != SKIP_MARKER:
                yield heading, start + 1, lines[start:j], hidden
            elif hidden:
                raise SnippetError(f"{path}:{j + 2}: hidden expectations after a block that is not compiled")
            previous = lines[j]
            i = k
            continue
        if line.startswith("## "):
            heading = line[3:].strip()
        if line.strip():
            previous = line
        i += 1


def split_top_level(text, separator):
    """Splits on `separator` outside brackets and string literals; returns the pieces."""
    pieces, depth, quoted, start, k = [], 0, False, 0, 0
    while k < len(text):
        c = text[k]
        if c == '"':
            quoted = not quoted
        elif not quoted:
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif depth == 0 and text.startswith(separator, k):
                pieces.append(text[start:k])
                k += len(separator)
                start = k
                continue
        k += 1
    pieces.append(text[start:])
    return [p.strip() for p in pieces]


def assertion(check, where):
    """The Swift statement for one `// expect:` check."""
    check = check.strip()
    if not check:
        raise SnippetError(f"{where}: empty expectation")
    close = split_top_level(check, "≈")
    if len(close) == 2:
        actual, expected = close
        bounds = split_top_level(expected, "±")
        if len(bounds) == 2:
            return f"assertClose({actual}, {bounds[0]}, tolerance: {bounds[1]})"
        if len(bounds) == 1:
            return f"assertClose({actual}, {expected})"
    elif len(close) == 1:
        equal = split_top_level(check, "==")
        if len(equal) == 2 and not any(op in check for op in ("&&", "||")):
            if equal[1] == "nil":
                return f"XCTAssertNil({equal[0]})"
            return f"XCTAssertEqual({equal[0]}, {equal[1]})"
        return f"XCTAssertTrue({check})"
    raise SnippetError(f"{where}: cannot read the expectation '{check}'")


def translate(path, first_line, lines, imports):
    """The block's lines as Swift for the test body (same line count: line numbers stay exact)."""
    out = []
    for offset, line in enumerate(lines):
        where = f"{path}:{first_line + offset}"
        stripped = line.strip()
        match = re.fullmatch(r"import\s+([A-Za-z_][A-Za-z0-9_]*)", stripped)
        if match:
            imports.add(match.group(1))
            out.append("")
            continue
        position = line.find(EXPECT)
        if position >= 0:
            code, check = line[:position].rstrip(), line[position + len(EXPECT):]
            statement = assertion(check, where)
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{code}; {statement}" if code.strip() else indent + statement)
            continue
        out.append(line)
    return out


def sources():
    """(path relative to the root, method name) of every Markdown file with snippets, in order."""
    files = [(pathlib.Path("README.md"), None)]
    files += [(p.relative_to(ROOT), p.stem) for p in sorted((ROOT / CATALOG).glob("*.md"))]
    return files


def generate():
    imports = {"Fluxion", "Foundation", "XCTest"}
    methods = []  # (name, [(path, first_line, translated lines)])
    names = set()
    for path, stem in sources():
        text = (ROOT / path).read_text(encoding="utf-8")
        groups = {}
        order = []
        for heading, first_line, lines, hidden in swift_blocks(path, text):
            if stem is None:
                if heading is None:
                    raise SnippetError(f"{path}:{first_line}: a README snippet must sit under a '## ' heading")
                name = "testReadme" + camel(heading)
            else:
                name = "testArticle" + camel(stem)
            if name not in groups:
                if name in names:
                    raise SnippetError(f"{path}: two sections give the test name {name}")
                names.add(name)
                groups[name] = []
                order.append(name)
            groups[name].append((path, first_line, translate(path, first_line, lines, imports)))
            for line_number, check in hidden:
                groups[name].append((path, line_number, [assertion(check, f"{path}:{line_number}")]))
        methods += [(name, groups[name]) for name in order]

    out = [
        "// Generated by Tools/extract_snippets.py from the ```swift blocks of README.md and",
        f"// {CATALOG}/*.md. Do not edit: change the Markdown and run `python3 Tools/extract_snippets.py`.",
        "",
    ]
    out += [f"import {m}" for m in sorted(imports)]
    out += [
        "",
        "final class DocumentationSnippetTests: XCTestCase {",
        "    private var previousDirectory = \"\"",
        "    private var scratchDirectory: URL?",
        "",
        "    /// Each snippet runs in a fresh temporary directory, so that it may write files by relative names.",
        "    override func setUpWithError() throws {",
        "        let directory = FileManager.default.temporaryDirectory",
        "            .appendingPathComponent(\"fluxion-snippets-\\(ProcessInfo.processInfo.processIdentifier)-\\(UUID().uuidString)\")",
        "        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)",
        "        previousDirectory = FileManager.default.currentDirectoryPath",
        "        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(directory.path))",
        "        scratchDirectory = directory",
        "    }",
        "",
        "    override func tearDownWithError() throws {",
        "        _ = FileManager.default.changeCurrentDirectoryPath(previousDirectory)",
        "        if let scratchDirectory { try? FileManager.default.removeItem(at: scratchDirectory) }",
        "    }",
    ]
    for name, blocks in methods:
        out += ["", f"    func {name}() throws {{"]
        for path, first_line, lines in blocks:
            out.append(f"#sourceLocation(file: \"{path}\", line: {first_line})")
            out += lines
            out.append("#sourceLocation()")
        out.append("    }")
    out += [
        "}",
        "",
        "// MARK: - What `// expect: A ≈ B` becomes",
        "",
        "private func assertClose(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-4,",
        "                         file: StaticString = #filePath, line: UInt = #line) {",
        "    guard actual.count == expected.count else {",
        "        XCTFail(\"\\(actual.count) values \\(actual), expected \\(expected.count): \\(expected)\", file: file, line: line)",
        "        return",
        "    }",
        "    for (i, (a, e)) in zip(actual, expected).enumerated() where !(abs(a - e) <= tolerance * max(1, abs(e))) {",
        "        XCTFail(\"element \\(i): \\(a) is not within \\(tolerance) of \\(e) (got \\(actual))\", file: file, line: line)",
        "        return",
        "    }",
        "}",
        "",
        "private func assertClose(_ actual: Tensor, _ expected: [Double], tolerance: Double = 1e-4,",
        "                         file: StaticString = #filePath, line: UInt = #line) {",
        "    assertClose(actual.scalars, expected, tolerance: tolerance, file: file, line: line)",
        "}",
        "",
        "private func assertClose(_ actual: Tensor, _ expected: Double, tolerance: Double = 1e-4,",
        "                         file: StaticString = #filePath, line: UInt = #line) {",
        "    XCTAssertEqual(actual.count, 1, \"expected one element, got shape \\(actual.shape)\", file: file, line: line)",
        "    assertClose(actual.scalars, [expected], tolerance: tolerance, file: file, line: line)",
        "}",
        "",
        "private func assertClose(_ actual: Double, _ expected: Double, tolerance: Double = 1e-4,",
        "                         file: StaticString = #filePath, line: UInt = #line) {",
        "    assertClose([actual], [expected], tolerance: tolerance, file: file, line: line)",
        "}",
        "",
        "private func assertClose(_ actual: Float, _ expected: Double, tolerance: Double = 1e-4,",
        "                         file: StaticString = #filePath, line: UInt = #line) {",
        "    assertClose([Double(actual)], [expected], tolerance: tolerance, file: file, line: line)",
        "}",
        "",
    ]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {OUTPUT} is not up to date")
    args = parser.parse_args()
    try:
        text = generate()
    except SnippetError as error:
        print(f"extract_snippets: {error}", file=sys.stderr)
        return 1
    target = ROOT / OUTPUT
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current != text:
            print(f"extract_snippets: {OUTPUT} is stale; run `python3 Tools/extract_snippets.py` and commit it",
                  file=sys.stderr)
            return 1
        print(f"extract_snippets: {OUTPUT} is up to date")
        return 0
    if current != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"extract_snippets: wrote {OUTPUT}")
    else:
        print(f"extract_snippets: {OUTPUT} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
