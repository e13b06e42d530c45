package domain

// Limits that keep every sum of money far from int64 overflow: amounts are minor units
// (cents), so MaxAmount is ten billion in major units.
const (
	MaxAmount  int64 = 1_000_000_000_000
	MaxUnits   int64 = 1_000_000_000 // per usage report
	maxBalance int64 = 1 << 60
)

// addBalance returns balance+delta, or false when the result leaves ±2^60.
func addBalance(balance, delta int64) (int64, bool) {
	n := balance + delta
	if n > maxBalance || n < -maxBalance {
		return 0, false
	}
	return n, true
}
