/// In-place selection (quickselect, median-of-three, Hoare partitioning; handles duplicates).
enum Selection {
    /// Rearranges `a` so `a[k]` is the k-th smallest (0-based) and returns it. Values must not be NaN.
    static func select(_ a: UnsafeMutableBufferPointer<Float>, _ k: Int) -> Float {
        precondition(k >= 0 && k < a.count)
        var l = 0
        var ir = a.count - 1
        while true {
            if ir <= l + 1 {
                if ir == l + 1 && a[ir] < a[l] { a.swapAt(l, ir) }
                return a[k]
            }
            let mid = (l + ir) >> 1
            a.swapAt(mid, l + 1)
            if a[l] > a[ir] { a.swapAt(l, ir) }
            if a[l + 1] > a[ir] { a.swapAt(l + 1, ir) }
            if a[l] > a[l + 1] { a.swapAt(l, l + 1) }
            var i = l + 1
            var j = ir
            let p = a[l + 1]
            while true {
                repeat { i += 1 } while a[i] < p
                repeat { j -= 1 } while a[j] > p
                if j < i { break }
                a.swapAt(i, j)
            }
            a[l + 1] = a[j]
            a[j] = p
            if j >= k { ir = j - 1 }
            if j <= k { l = i }
        }
    }
}
