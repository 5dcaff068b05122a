/// A built-in 5×7 pixel font for plot labels: digits, `.`, `-`, `+`, `e`, upper-case
/// letters and a little punctuation. Lower-case letters other than `e` are drawn upper-case;
/// anything else is drawn as `?`.
///
/// ```
/// glyph: 7 rows of 5 columns; advance: 6 pixels (one blank column) per character
/// ```
public enum BitmapFont {
    public static let glyphWidth = 5
    public static let glyphHeight = 7
    /// Horizontal distance from one character to the next, at scale 1.
    public static let advance = 6

    /// The width in pixels of `text` drawn at `scale`.
    public static func width(of text: String, scale: Int = 1) -> Int {
        text.isEmpty ? 0 : (text.count * advance - 1) * scale
    }

    /// The rows of a glyph; bit 4 of each row is the leftmost column.
    public static func glyph(for character: Character) -> [UInt8] {
        if let rows = glyphs[character] { return rows }
        if let upper = character.uppercased().first, let rows = glyphs[upper] { return rows }
        return glyphs["?"] ?? []
    }

    /// Glyph rows parsed from `patterns`.
    public static let glyphs: [Character: [UInt8]] = {
        var table: [Character: [UInt8]] = [:]
        for (character, pattern) in patterns {
            let rows = pattern.split(separator: " ").map { row in
                row.reduce(UInt8(0)) { bits, pixel in (bits << 1) | (pixel == "#" ? 1 : 0) }
            }
            precondition(rows.count == glyphHeight, "glyph \(character) needs \(glyphHeight) rows")
            table[character] = rows
        }
        return table
    }()

    /// Each glyph as 7 space-separated rows of 5 pixels, `#` on and `.` off, top row first.
    static let patterns: [Character: String] = [
        "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
        "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
        "2": ".###. #...# ....# ...#. ..#.. .#... #####",
        "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
        "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
        "5": "##### #.... ####. ....# ....# #...# .###.",
        "6": "..##. .#... #.... ####. #...# #...# .###.",
        "7": "##### ....# ...#. ..#.. .#... .#... .#...",
        "8": ".###. #...# #...# .###. #...# #...# .###.",
        "9": ".###. #...# #...# .#### ....# ...#. .##..",
        ".": "..... ..... ..... ..... ..... .##.. .##..",
        "-": "..... ..... ..... .###. ..... ..... .....",
        "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
        "e": "..... ..... .###. #...# ##### #.... .###.",
        " ": "..... ..... ..... ..... ..... ..... .....",
        "A": ".###. #...# #...# ##### #...# #...# #...#",
        "B": "####. #...# #...# ####. #...# #...# ####.",
        "C": ".###. #...# #.... #.... #.... #...# .###.",
        "D": "###.. #..#. #...# #...# #...# #..#. ###..",
        "E": "##### #.... #.... ####. #.... #.... #####",
        "F": "##### #.... #.... ####. #.... #.... #....",
        "G": ".###. #...# #.... #.### #...# #...# .####",
        "H": "#...# #...# #...# ##### #...# #...# #...#",
        "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
        "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
        "L": "#.... #.... #.... #.... #.... #.... #####",
        "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
        "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
        "O": ".###. #...# #...# #...# #...# #...# .###.",
        "P": "####. #...# #...# ####. #.... #.... #....",
        "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
        "R": "####. #...# #...# ####. #.#.. #..#. #...#",
        "S": ".#### #.... #.... .###. ....# ....# ####.",
        "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
        "U": "#...# #...# #...# #...# #...# #...# .###.",
        "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
        "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
        "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
        "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
        "Z": "##### ....# ...#. ..#.. .#... #.... #####",
        "_": "..... ..... ..... ..... ..... ..... #####",
        "/": "....# ....# ...#. ..#.. .#... #.... #....",
        ":": "..... .##.. .##.. ..... .##.. .##.. .....",
        "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
        ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
        ",": "..... ..... ..... ..... .##.. ..#.. .#...",
        "=": "..... ..... ##### ..... ##### ..... .....",
        "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
        "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    ]
}
