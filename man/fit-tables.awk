# Fits go-md2man's tbl tables into a terminal: reads the roff go-md2man wrote, prints it with every
# table at most WIDTH columns wide (default 100, as `man` renders them with MANWIDTH=100).
#
# go-md2man writes each long cell as a text block (T{ ... T}) but ends a block that is not in the
# last column with "T}" on its own line and the next cell on the next line, which tbl reads as a new
# row: the rest of the row lands one column to the right. Its column formats (`l`) never wrap, so a
# table is as wide as its longest cell. Here a row's cells are read back whole, columns whose
# longest cell does not fit their share of the width get a width (`lw(N)`) and their cells become
# text blocks (which tbl wraps at that width), and every block is closed on the line of the next
# cell. Plain POSIX awk (mawk).
BEGIN {
  if (WIDTH == "") WIDTH = 100
  # man indents the text by 7 columns; allbox draws "| " before each column and " |" at the end.
  text_width = WIDTH - 7 - 1
  MARK = sprintf("%c", 1)  # in front of a cell that came as a text block
}

# The length of a cell as printed: roff font escapes and \& take no room.
function shown_length(s,    t) {
  t = s
  gsub(/\\f[A-Z]/, "", t)
  gsub(/\\f\([A-Z][A-Z]/, "", t)
  gsub(/\\&/, "", t)
  gsub(/\\-/, "-", t)
  return length(t)
}

function flush_table(    r, c, n, i, j, budget, left, cols_left, share, changed, order, tmp, line, row, spec) {
  # Natural width of each column: its longest cell.
  for (c = 1; c <= columns; c++) natural[c] = 0
  for (r = 1; r <= rows; r++) {
    for (c = 1; c <= cell_count[r]; c++) {
      n = shown_length(cell[r, c])
      if (n > natural[c]) natural[c] = n
    }
  }
  budget = text_width - (3 * columns + 1)
  # Narrow columns keep their width; the others share what is left equally.
  for (c = 1; c <= columns; c++) { width[c] = 0; order[c] = c }
  for (i = 1; i <= columns; i++) {
    for (j = i + 1; j <= columns; j++) {
      if (natural[order[j]] < natural[order[i]]) { tmp = order[i]; order[i] = order[j]; order[j] = tmp }
    }
  }
  left = budget
  cols_left = columns
  for (i = 1; i <= columns; i++) {
    c = order[i]
    share = int(left / cols_left)
    if (natural[c] <= share) {
      width[c] = natural[c]
    } else {
      width[c] = share
      narrowed[c] = 1
    }
    left -= width[c]
    cols_left--
  }
  print ".TS"
  print options
  for (i = 1; i <= format_count; i++) {
    line = ""
    for (c = 1; c <= columns; c++) {
      spec = (c in narrowed) ? "lw(" width[c] "n)" : "l"
      line = line (c > 1 ? " " : "") spec
    }
    if (format[i] ~ /\.[ \t]*$/) line = line " ."
    print line
  }
  for (r = 1; r <= rows; r++) {
    row = ""
    for (c = 1; c <= cell_count[r]; c++) {
      if (c > 1) row = row "\t"
      if ((c in narrowed) || block[r, c]) {
        row = row "T{\n.na\n.nh\n" cell[r, c] "\nT}"
      } else {
        row = row cell[r, c]
      }
    }
    print row
  }
  print ".TE"
  for (c in narrowed) delete narrowed[c]
}

/^\.TS/ && !in_table {
  in_table = 1
  stage = "options"
  rows = 0
  columns = 0
  format_count = 0
  pending = ""
  in_block = 0
  next
}

in_table && stage == "options" {
  options = $0
  stage = "format"
  next
}

in_table && stage == "format" {
  format[++format_count] = $0
  if ($0 ~ /\.[ \t]*$/) stage = "rows"
  next
}

in_table && /^\.TE/ {
  if (pending != "") add_pending()
  after_block = 0
  flush_table()
  in_table = 0
  next
}

# Inside a row: cells so far in `pending` (tab separated, a block's text marked by MARK in front).
function add_pending(    n, parts, c, t) {
  n = split(pending, parts, "\t")
  rows++
  cell_count[rows] = n
  for (c = 1; c <= n; c++) {
    t = parts[c]
    block[rows, c] = 0
    if (substr(t, 1, 1) == MARK) {
      block[rows, c] = 1
      t = substr(t, 2)
    }
    cell[rows, c] = t
  }
  if (n > columns) columns = n
  pending = ""
}

in_table && in_block {
  if ($0 ~ /^T}/) {
    in_block = 0
    rest = substr($0, 3)
    if (rest == "") {
      after_block = 1  # the row may go on on the next line (go-md2man: "T}" then "\tcell")
    } else {
      pending = pending rest
      if (pending !~ /T\{$/) { add_pending(); after_block = 0 } else { start_block() }
    }
    next
  }
  # Keep the block's lines in the cell, joined; tbl rewraps them.
  pending = pending (substr(pending, length(pending), 1) == MARK ? "" : " ") $0
  next
}

function start_block() {
  sub(/T\{$/, "", pending)
  pending = pending MARK
  in_block = 1
}

in_table {
  if (after_block) {
    after_block = 0
    if ($0 ~ /^\t/) {
      pending = pending $0
      if (pending ~ /T\{$/) { start_block(); next }
      add_pending()
      next
    }
    add_pending()
  }
  pending = $0
  if (pending ~ /T\{$/) { start_block(); next }
  add_pending()
  next
}

{ print }
