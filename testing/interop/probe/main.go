package main

import (
	_ "gvisor.dev/gvisor/pkg/context"
	_ "gvisor.dev/gvisor/pkg/devutil"
	_ "gvisor.dev/gvisor/pkg/fspath"
	_ "gvisor.dev/gvisor/pkg/lisafs"
	_ "gvisor.dev/gvisor/pkg/unet"
	_ "gvisor.dev/gvisor/runsc/config"
	_ "gvisor.dev/gvisor/runsc/fsgofer"
)

func main() {}
