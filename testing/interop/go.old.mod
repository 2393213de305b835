module gvisor_devutil/testing/interop

go 1.26.3

require (
	golang.org/x/sys v0.43.0
	gvisor.dev/gvisor v0.0.0-20250503011706-39ed1f5ac29c
)

require (
	github.com/bazelbuild/rules_go v0.44.2 // indirect
	github.com/google/btree v1.1.2 // indirect
	golang.org/x/time v0.15.0 // indirect
	google.golang.org/protobuf v1.33.0 // indirect
)
