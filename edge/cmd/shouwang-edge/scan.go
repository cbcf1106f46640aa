package main

import (
	"os"

	"github.com/shouwang-care/shouwang/edge/meterbus"
)

func init() {
	subcommands["scan"] = func(args []string) error { return meterbus.ScanCommand(args, os.Stdout) }
}
