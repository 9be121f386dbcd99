fn main() {
    println!("gridlens: under construction");
}
