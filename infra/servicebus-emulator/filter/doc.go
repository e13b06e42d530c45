// Package filter evaluates Service Bus subscription rules: correlation
// filters, SQL filters and SQL rule actions, as the broker of the emulator
// applies them to every message published to a topic.
//
// A SQL expression is parsed once (ParseSQL, ParseAction) into a small tree
// that is then evaluated per message without allocating on the common paths.
// The grammar is the one documented in Microsoft's "Subscription Rule SQL
// Filter Syntax" and "SQL action syntax" pages:
//
//   - comparisons = <> != < <= > >=, AND, OR, NOT, parentheses
//   - [NOT] IN (...), [NOT] LIKE pattern [ESCAPE 'c'], IS [NOT] NULL, EXISTS(prop)
//   - properties: bare names and user.x are user (application) properties,
//     sys.X are system properties; [delimited names] and "quoted names"
//   - constants: 'strings' (” escapes a quote), int64 integers, decimals and
//     1.5E3 numbers (float64), TRUE, FALSE, NULL
//   - arithmetic + - * / % and unary + -, functions newid(), property(name), p(name)
//
// Semantics follow Service Bus: keywords and property names are
// case-insensitive; a missing user property is NULL (unknown), and a
// comparison with unknown is unknown, which does not match; strings compare
// ordinally and case-sensitively; integers and floats compare numerically.
//
// Where the documentation is silent this package decides, and says so:
// comparing values of unrelated types (a string with a number) is not equal
// for = and <>, and unknown for < <= > >=; integer division by zero and
// arithmetic on unrelated types are evaluation errors (*EvalError).
package filter
