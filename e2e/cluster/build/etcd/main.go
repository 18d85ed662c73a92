// Command etcd is the etcd server, built from the published
// go.etcd.io/etcd/server/v3 module. That module's own go.mod carries relative
// replace directives (they only work inside the etcd repository), so it cannot
// be built with `go build go.etcd.io/etcd/server/v3/...` from outside; this
// wrapper imports it as an ordinary dependency instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
