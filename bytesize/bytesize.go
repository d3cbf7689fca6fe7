// Package bytesize writes byte counts the way people read them, in binary
// units, the same wherever Seedbed shows one: a build log, the console, a
// cache's size.
package bytesize

import "fmt"

// Format renders n bytes with a binary unit: "512 B", "1.5 KiB",
// "12.3 MiB", and without a decimal from 100 on: "512 MiB".
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v >= 100 {
		return fmt.Sprintf("%.0f %ciB", v, "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}
