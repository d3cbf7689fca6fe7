package bytesize

import "testing"

func TestFormat(t *testing.T) {
	cases := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{12595, "12.3 KiB"},
		{500 * 1024, "500 KiB"},
		{6_543_210, "6.2 MiB"},
		{5 << 20, "5.0 MiB"},
		{12_900_000, "12.3 MiB"},
		{100 << 20, "100 MiB"},
		{512 << 20, "512 MiB"},
		{2 << 30, "2.0 GiB"},
		{1 << 62, "4.0 EiB"},
	}
	for _, tc := range cases {
		if got := Format(tc.n); got != tc.want {
			t.Errorf("Format(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
