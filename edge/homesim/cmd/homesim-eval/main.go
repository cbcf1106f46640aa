// Command homesim-eval writes the rules evaluation table:
//
//	go run ./edge/homesim/cmd/homesim-eval -seed 1 -homes 300 -days 56
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/shouwang-care/shouwang/edge/homesim"
)

func main() {
	seed := flag.Uint64("seed", 1, "population seed")
	homes := flag.Int("homes", 300, "homes")
	days := flag.Int("days", 56, "days per home")
	incident := flag.Float64("incident", 0.8, "share of homes with an incident")
	flag.Parse()
	spec := homesim.Spec{Seed: *seed, Homes: *homes, Days: *days, Incident: *incident}
	pop := homesim.Population(spec)
	var rs []homesim.Result
	for _, c := range homesim.Configs() {
		rs = append(rs, homesim.Evaluate(pop, c))
	}
	fmt.Printf("Population: seed %d, %d homes, %d days, incident share %.2f\n\n", *seed, *homes, *days, *incident)
	homesim.Report(os.Stdout, rs)
}
