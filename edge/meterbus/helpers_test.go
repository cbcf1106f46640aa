package meterbus_test

import "strconv"

func strconvF(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
