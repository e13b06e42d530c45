// Command nodecheck checks that each pinned npm folder runs on a Node.js its dependencies
// support (their engines.node), and says which Node that is. `make deps` runs it:
//
//	go run ./infra/nodecheck infra/azurite infra/servicebus-emulator/jsinterop
package main

import (
	"fmt"
	"os"

	"meterline/shared/nodejs"
)

func main() {
	failed := false
	for _, dir := range os.Args[1:] {
		rt, err := nodejs.For(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "nodecheck: %s: %v\n", dir, err)
			failed = true
			continue
		}
		fmt.Printf("%s runs on Node %s (%s)\n", dir, rt.Version, rt.Bin)
	}
	if failed {
		os.Exit(1)
	}
}
