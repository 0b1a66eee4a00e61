"""The formula grammar (lark, LALR) with Excel's operator precedence.

From loosest to tightest: OR, AND, NOT, comparisons, `&`, `+ -`, `* /`, unary minus.
Keywords are case-insensitive; a name directly followed by `(` is a function name, so the
logic functions can be written either way: `a AND b` or `AND(a, b)`.
"""

GRAMMAR = r"""
?start: expr

?expr: or_expr

?or_expr: and_expr
        | or_expr OR and_expr            -> binary

?and_expr: not_expr
         | and_expr AND not_expr         -> binary

?not_expr: comparison
         | NOT not_expr                  -> unary

?comparison: concat
           | comparison COMPARE concat   -> binary

?concat: sum
       | concat AMP sum                  -> binary

?sum: product
    | sum ADD product                    -> binary

?product: unary
        | product MUL unary              -> binary

?unary: atom
      | ADD unary                        -> unary

?atom: NUMBER                            -> number
     | STRING                            -> string
     | TRUE                              -> true
     | FALSE                             -> false
     | path
     | FUNC LPAR [args] RPAR             -> call
     | LPAR expr RPAR                    -> group

args: expr ("," expr)*

path: (NAME | CONTEXT) ("." NAME)*

FUNC.3: /[A-Za-z_][A-Za-z0-9_]*(?=[ \t\r\n]*\()/
OR.2: /(?i:or)(?![A-Za-z0-9_])/ | "||"
AND.2: /(?i:and)(?![A-Za-z0-9_])/ | "&&"
NOT.2: /(?i:not)(?![A-Za-z0-9_(])/ | "!"
TRUE.2: /(?i:true)(?![A-Za-z0-9_(])/
FALSE.2: /(?i:false)(?![A-Za-z0-9_(])/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
CONTEXT: /\$[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /[0-9]+(\.[0-9]+)?|\.[0-9]+/
STRING: /"(?:[^"\\]|\\.)*"/s | /'(?:[^'\\]|\\.)*'/s
COMPARE: "<=" | ">=" | "<>" | "!=" | "==" | "=" | "<" | ">"
AMP: "&"
ADD: "+" | "-"
MUL: "*" | "/"
LPAR: "("
RPAR: ")"

COMMENT: /\/\/[^\n]*/ | /\/\*(.|\n)*?\*\//
%ignore COMMENT
%ignore /[ \t\r\n\f]+/
"""
