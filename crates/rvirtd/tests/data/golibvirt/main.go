// A go-libvirt client (the library under terraform-provider-libvirt), built by
// daemon_golibvirt.rs in GOPATH mode from Debian's golang-github-digitalocean-go-libvirt-dev:
// connects over the unix socket, defines, lists, starts, destroys and undefines a domain.
//
//	golibvirt SOCKET DOMAIN.xml
package main

import (
	"fmt"
	"net"
	"os"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	sock, xmlPath := os.Args[1], os.Args[2]
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	must(err, "dial")
	l := libvirt.New(c)
	must(l.Connect(), "connect")
	v, err := l.ConnectGetLibVersion()
	must(err, "lib version")
	fmt.Printf("libversion %d\n", v)
	xml, err := os.ReadFile(xmlPath)
	must(err, "read xml")
	dom, err := l.DomainDefineXML(string(xml))
	must(err, "define")
	fmt.Printf("defined %s\n", dom.Name)
	doms, _, err := l.ConnectListAllDomains(1, 0)
	must(err, "list")
	for _, d := range doms {
		fmt.Printf("listed %s\n", d.Name)
	}
	must(l.DomainCreate(dom), "create")
	st, _, err := l.DomainGetState(dom, 0)
	must(err, "state")
	fmt.Printf("state %d\n", st)
	must(l.DomainDestroy(dom), "destroy")
	st, _, err = l.DomainGetState(dom, 0)
	must(err, "state")
	fmt.Printf("state %d\n", st)
	must(l.DomainUndefine(dom), "undefine")
	must(l.Disconnect(), "disconnect")
	fmt.Println("done")
}
