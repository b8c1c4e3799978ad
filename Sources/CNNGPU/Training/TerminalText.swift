import Foundation

/// Lines for a terminal: a header line wider than the window is broken at spaces, continuation
/// lines indented under the value column ("memory    …"), so nothing relies on the terminal's
/// own wrapping (which splits words and, for the live progress line, repeats it).
public enum TerminalText {
    /// Columns that are safe to fill on standard output when it is a terminal, else nil (a
    /// file or pipe keeps its lines whole, for logs and tools).
    public static var standardOutputWidth: Int? {
        isatty(STDOUT_FILENO) != 0 ? max(terminalColumns() - 1, 20) : nil
    }

    /// `text` broken into lines of at most `width` characters at spaces; a word longer than a
    /// line (a path) is cut. Continuation lines start with `indent` spaces.
    public static func wrap(_ text: String, width: Int, indent: Int = 10) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { wrapLine(String($0), width: width, indent: indent) }
            .joined(separator: "\n")
    }

    private static func wrapLine(_ line: String, width: Int, indent: Int) -> String {
        guard line.count > width, width > indent + 8 else { return line }
        let pad = String(repeating: " ", count: indent)
        var lines: [String] = [], current = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            let candidate = current.isEmpty ? word : current + " " + word
            if candidate.count <= width || current.isEmpty {
                current = candidate
            } else {
                lines.append(current)
                current = pad + word
            }
        }
        lines.append(current)
        // Words longer than a line are cut into pieces that fit.
        return lines.flatMap { piece -> [String] in
            var rest = Substring(piece), out: [String] = []
            while rest.count > width {
                out.append(String(rest.prefix(width)))
                rest = Substring(pad) + rest.dropFirst(width)
            }
            out.append(String(rest))
            return out
        }.joined(separator: "\n")
    }
}
